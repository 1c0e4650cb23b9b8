"""A chain back in a round's commit window after the node saw it close (restarted from a
state dump taken before the close, which may lack our commit) voids what the node
exchanged: its vote and the vote keeper raise ``RoundRewound`` (a ``RoundLost``: the round
loop forgets the round and takes part afresh) instead of reading "not open yet" as
"closed" and giving up the vote. Scripted chain behind the real port."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trio

from node.state import NodeState
from node.vote import keep_vote, vote
from node.waits import RoundLost, RoundRewound
from tests.unit.round_fixtures import OPEN_ROUND, AccountCtx

CLOSED = replace(OPEN_ROUND, closed_at=150, commit_count=3)  # vote window 150..300


@dataclass
class Chain:
    info: object
    now: int
    submitted: int = 0

    def round_view(self, r: int) -> tuple[object, int]:
        return self.info, self.now

    def has_voted(self, r: int) -> bool:
        return False

    def submit_outcome(self, *args: object) -> dict[str, int]:
        self.submitted += 1
        return {"gasUsed": 1, "effectiveGasPrice": 1}


def ctx_for(tmp_path: Path, chain: Chain) -> AccountCtx:
    state = NodeState(tmp_path / "state.sqlite")
    state.update(1, opened_at=OPEN_ROUND.opened_at)
    return AccountCtx(chain, state)


def send_vote(ctx: AccountCtx) -> None:
    trio.run(vote, ctx, 1, "bafymodel", b"\x01" * 32, [], 0)


def test_a_vote_into_a_reopened_commit_window_voids_the_round(tmp_path: Path) -> None:
    chain = Chain(OPEN_ROUND, now=160)  # commits accepted again: nothing closed it
    ctx = ctx_for(tmp_path, chain)
    with pytest.raises(RoundRewound) as raised:
        send_vote(ctx)
    assert isinstance(raised.value, RoundLost) and raised.value.round == 1
    assert chain.submitted == 0
    assert ctx.metrics.get("votes_missed_total") == 0


def test_a_vote_after_the_vote_deadline_is_missed_not_rewound(tmp_path: Path) -> None:
    chain = Chain(CLOSED, now=300)
    ctx = ctx_for(tmp_path, chain)
    send_vote(ctx)
    assert chain.submitted == 0
    assert ctx.metrics.get("votes_missed_total") == 1


@pytest.mark.parametrize(
    ("info", "now", "rewound"), [(OPEN_ROUND, 160, True), (CLOSED, 160, False)]
)
def test_the_vote_keeper_notices_a_reopened_commit_window(
    tmp_path: Path, info: object, now: int, rewound: bool
) -> None:
    ctx = ctx_for(tmp_path, Chain(info, now))

    async def keep() -> None:
        await keep_vote(ctx, 1, info, now, ("bafymodel", b"\x01" * 32, []))  # type: ignore[arg-type]

    if rewound:
        with pytest.raises(RoundRewound):
            trio.run(keep)
    else:
        trio.run(keep)  # not voted yet in our journal: nothing to resend, nothing raised
