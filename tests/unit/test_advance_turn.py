import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from node.advance_turn import (
    STEP_S,
    TURNS,
    AdvanceTurns,
    advance_delay,
    advance_rank,
    round_committers,
)
from node.chain.client import RoundInfo, RoundStatus
from node.daemon import ready_to_advance

NODES = [f"0x{i:040x}" for i in range(1, 33)]
COMMITTERS = NODES[:8]  # the round's committee; NODES[8:] observed it


def finalized(r: int = 5, at: int = 1_000) -> RoundInfo:
    values: dict[str, object] = {
        f.name: b"" if f.type in ("bytes", bytes) else 0 for f in dataclasses.fields(RoundInfo)
    }
    values.update(
        round=r, status=RoundStatus.FINALIZED, opened_at=900, commit_deadline=950, closed_at=940,
        vote_deadline=1_200, stake_snapshot=800, winning_weight=800, finalized_at=at,
    )  # fmt: skip
    return RoundInfo(**values)  # type: ignore[arg-type]


def first_advance(info: RoundInfo, alive: list[str]) -> tuple[int, list[str]]:
    """Chain time at which the first live node calls advance, and who calls then."""
    delays = {
        a: advance_delay(advance_rank(info.round, a, COMMITTERS) if a in COMMITTERS else None)
        for a in alive
    }
    for now in range(info.finalized_at, info.vote_deadline):
        callers = [a for a in alive if ready_to_advance(info, now - delays[a], 0)]
        if callers:
            return now, callers
    raise AssertionError("nobody advanced")


def test_the_committers_share_one_order_with_exactly_one_first() -> None:
    ranks = [advance_rank(7, a, COMMITTERS) for a in COMMITTERS]
    assert sorted(ranks) == list(range(len(COMMITTERS)))  # type: ignore[type-var]
    upper = [advance_rank(7, a.upper().replace("0X", "0x"), COMMITTERS) for a in COMMITTERS]
    assert upper == ranks  # addresses compare case-insensitively (checksummed or not)
    assert advance_rank(7, COMMITTERS[0], reversed(COMMITTERS)) == ranks[0]


def test_the_first_node_changes_from_round_to_round() -> None:
    firsts = {next(a for a in COMMITTERS if advance_rank(r, a, COMMITTERS) == 0) for r in range(40)}
    assert len(firsts) > 3


def test_delays_rise_by_turn_and_everyone_else_goes_last() -> None:
    assert [advance_delay(k) for k in range(5)] == [0, STEP_S, 2 * STEP_S, 2 * STEP_S, 2 * STEP_S]
    assert advance_delay(None) == TURNS * STEP_S
    assert advance_rank(3, NODES[20], COMMITTERS) is None


def test_one_node_advances_when_everyone_is_alive() -> None:
    info = finalized()
    at, callers = first_advance(info, NODES)
    assert at == info.finalized_at
    assert len(callers) == 1 and advance_rank(info.round, callers[0], COMMITTERS) == 0


def test_a_dead_first_node_delays_the_next_round_by_one_step() -> None:
    info = finalized()
    first = next(a for a in COMMITTERS if advance_rank(info.round, a, COMMITTERS) == 0)
    at, callers = first_advance(info, [a for a in NODES if a != first])
    assert at == info.finalized_at + STEP_S
    assert [advance_rank(info.round, a, COMMITTERS) for a in callers] == [1]


def test_observers_advance_when_every_committer_is_dead() -> None:
    info = finalized()
    at, callers = first_advance(info, NODES[8:])
    assert at == info.finalized_at + TURNS * STEP_S
    assert callers == NODES[8:]


def test_a_negative_round_is_refused() -> None:
    with pytest.raises(ValueError, match="round must be >= 0"):
        advance_rank(-1, NODES[0], COMMITTERS)


def test_turns_read_the_commitments_once_per_round_and_only_when_committed() -> None:
    reads: list[int] = []

    async def committers(r: int) -> list[str]:
        reads.append(r)
        return COMMITTERS

    async def main() -> None:
        me = next(a for a in COMMITTERS if advance_rank(5, a, COMMITTERS) == 1)
        turns = AdvanceTurns(me, committers)
        assert await turns.delay(finalized(5), committed=True) == STEP_S
        assert await turns.delay(finalized(5), committed=True) == STEP_S
        assert reads == [5]
        assert await turns.delay(finalized(6), committed=False) == TURNS * STEP_S
        assert reads == [5]
        failed = dataclasses.replace(finalized(7), status=RoundStatus.OPEN)
        assert await turns.delay(failed, committed=True) == 0  # a failed round: no stagger
        assert reads == [5]

    trio.run(main)


def test_committers_come_from_the_record_else_from_the_chain() -> None:
    record = {"verified_authors": COMMITTERS[:5], "rejected": dict.fromkeys(COMMITTERS[5:], "x")}
    rows = {5: SimpleNamespace(record=json.dumps(record)), 6: SimpleNamespace(record=None)}
    reads: list[int] = []

    async def commitments(r: int) -> dict[str, str]:
        reads.append(r)
        return dict.fromkeys(NODES[:3], "cid")

    ctx: Any = SimpleNamespace(
        state=SimpleNamespace(get=rows.__getitem__),
        chain_port=SimpleNamespace(commitments=commitments),
    )

    async def main() -> None:
        assert sorted(await round_committers(ctx, 5)) == sorted(COMMITTERS)
        assert reads == []
        assert sorted(await round_committers(ctx, 6)) == NODES[:3]  # no record yet
        assert reads == [6]

    trio.run(main)
