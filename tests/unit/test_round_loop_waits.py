"""Between rounds the round loop (node/round_loop.py) reads the chain only when the round
may have changed: a coordinator log other than a reward claim (the next round's opening, a
late vote; after an observed round only the opening or a failure), the chain time of this
node's advance turn, or the fallback timeout. Blocks that carry only reward claims wake no
read. An observer's round (the record says
``selected: false``) leaves no garbage to collect: no tidy-up reads after it, and no
chores unless it or the round before failed. Scripted chain and watch, trio's mock clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from node.chain.client import RoundInfo, RoundStatus
from node.metrics import Metrics
from node.ports import ChainPort
from node.round_loop import advance_time, chores_due, selected_in, take_rounds
from node.state import NodeState
from tests.unit.round_fixtures import OPEN_ROUND, inline_port
from tests.unit.test_waits import LogWatch

# Round 1 finalized at 250, not all of the stake voted: advance from min(250 + grace, 300)
FINALIZED = replace(
    OPEN_ROUND, status=RoundStatus.FINALIZED, finalized_at=250, stake_snapshot=10, winning_weight=7
)


@dataclass
class Chain:
    watch: LogWatch  # the chain's time is its latest block's, as the watch saw it
    reads: list[tuple[str, float]] = field(default_factory=list)

    def _read(self, name: str) -> None:
        self.reads.append((name, trio.current_time()))

    def current_round(self) -> int:
        self._read("current_round")
        return 1

    def round_view(self, r: int) -> tuple[RoundInfo, int]:
        self._read("round_view")
        return FINALIZED, self.watch.head_time

    def current_view(self, r: int) -> tuple[int, RoundInfo, int]:
        current = self.current_round()
        return (current, *self.round_view(r))

    def params(self) -> Any:
        self._read("params")
        return SimpleNamespace(late_vote_grace=1000)

    def advance(self) -> bool:
        self._read("advance")
        return True  # sent: the next round's opening is a log

    def deployment_end(self) -> None:
        self._read("deployment_end")

    def chain_time(self) -> int:
        self._read("chain_time")
        return self.watch.head_time

    def claim_deadline(self, r: int) -> int:
        self._read("claim_deadline")
        return 10**9

    def participant(self, address: str | None = None) -> None:
        self._read("participant")

    def commitments(self, r: int) -> dict[str, str]:
        self._read("commitments")
        return {}


@dataclass
class Claims:
    reconciled: list[int] = field(default_factory=list)

    def reconcile(self, r: int) -> None:
        self.reconciled.append(r)


@dataclass
class Ctx:
    chain: Chain
    state: NodeState
    watch: LogWatch
    address: str = "0xMe"
    cfg: Any = field(default_factory=lambda: SimpleNamespace(max_rounds=0, poll_interval=0.5))
    link: Any = field(default_factory=lambda: SimpleNamespace(outages=0))
    metrics: Metrics = field(default_factory=Metrics)
    claims: Claims = field(default_factory=Claims)
    current_round: int = 0
    phase: str = "idle"

    @property
    def chain_port(self) -> ChainPort:
        return inline_port(self.chain)


@pytest.fixture
def state(tmp_path: Path) -> NodeState:
    return NodeState(tmp_path / "state.sqlite")


def observed_round_1(state: NodeState) -> None:
    state.finish(1, {"round": 1, "status": "finalized", "selected": False})


def test_claim_only_blocks_wake_no_read_between_rounds(state: NodeState) -> None:
    observed_round_1(state)
    watch = LogWatch()
    watch.head_time = 260
    chain = Chain(watch)
    ctx = Ctx(chain, state, watch)

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def mine_at(t: float, logged: bool, settles: bool = False) -> None:
                await trio.sleep_until(t)
                watch.mine_block(logged, 261, settles)

            for t in (0.3, 0.6):  # reward claims
                nursery.start_soon(mine_at, t, False)
            nursery.start_soon(mine_at, 0.9, True)  # a late vote: the members' to act on
            nursery.start_soon(mine_at, 1.2, True, True)  # the next round opens
            with trio.move_on_after(1.5):
                await take_rounds(ctx)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    current = [t for name, t in chain.reads if name == "current_round"]
    assert current == [0.0, 1.2]  # not at 0.3, 0.6 (claims), 0.9 (a vote: the observer's
    # advance turn comes last)
    # an observed round: no stake read, no garbage collection reads, no chores (sweeps)
    tidy = ("participant", "commitments", "chain_time", "claim_deadline")
    assert not [name for name, _ in chain.reads if name in tidy]
    assert ctx.claims.reconciled == [1]


def test_the_advance_turn_wakes_the_loop(state: NodeState) -> None:
    """No log at all: the loop reads again once a block reaches its advance time
    (grace end 300 + an observer's delay 6), not on every block before."""
    observed_round_1(state)
    watch = LogWatch()
    watch.head_time = 260
    chain = Chain(watch)
    ctx = Ctx(chain, state, watch)

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def mine_at(t: float, stamp: int) -> None:
                await trio.sleep_until(t)
                watch.mine_block(False, stamp)

            nursery.start_soon(mine_at, 0.5, 305)
            nursery.start_soon(mine_at, 1.0, 306)
            with trio.move_on_after(1.5):
                await take_rounds(ctx)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [t for name, t in chain.reads if name == "current_round"] == [0.0, 1.0]
    assert [t for name, t in chain.reads if name == "advance"] == [1.0]


@dataclass
class Rounds(Chain):
    """Round 1, 2, 3 in turn: each a log moves the chain on, each found finalized."""

    round: int = 1

    def current_round(self) -> int:
        self._read("current_round")
        return self.round


def test_parameters_and_the_stop_rule_are_read_again_only_after_their_logs(
    state: NodeState,
) -> None:
    """With the watch's log subscription live, the late-vote grace is read again only
    after a ParamsApplied log and the stop rule's verdict only after a DeploymentFinished
    one (or a new subscription), not once per round."""
    for r in (1, 2, 3, 4):
        state.finish(r, {"round": r, "status": "finalized", "selected": False})
    watch = LogWatch()
    watch.head_time = 260
    chain = Rounds(watch)
    ctx = Ctx(chain, state, watch)

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def next_round(t: float, params: bool = False, stop: bool = False) -> None:
                await trio.sleep_until(t)
                chain.round += 1
                watch.param_marks += params
                watch.stop_marks += stop
                watch.mine_block(True, 261, settles=True)  # RoundOpened

            nursery.start_soon(next_round, 1.0)
            nursery.start_soon(next_round, 2.0, True)  # round 3 opens with new parameters
            nursery.start_soon(next_round, 3.0, False, True)  # a DeploymentFinished log
            with trio.move_on_after(3.5):
                await take_rounds(ctx)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [t for name, t in chain.reads if name == "current_round"] == [0.0, 1.0, 2.0, 3.0]
    assert [t for name, t in chain.reads if name == "params"] == [0.0, 2.0]
    assert [t for name, t in chain.reads if name == "deployment_end"] == [0.0, 3.0]


def test_advance_time_and_selected_in(state: NodeState) -> None:
    assert advance_time(FINALIZED, 1000, 6) == 306
    assert advance_time(replace(FINALIZED, winning_weight=10), 1000, 0) == 250  # all voted
    assert advance_time(OPEN_ROUND, 0, 0) == 300
    assert advance_time(replace(OPEN_ROUND, status=RoundStatus.FAILED), 0, 6) == 0
    observed_round_1(state)
    state.finish(2, {"round": 2, "status": "finalized", "selected": True})
    ctx = SimpleNamespace(state=state)
    assert selected_in(ctx, 1) is False  # type: ignore[arg-type]
    assert selected_in(ctx, 2) is True  # type: ignore[arg-type]
    assert chores_due(ctx, 2) and not chores_due(ctx, 1)  # type: ignore[arg-type]
    state.finish(3, {"round": 3, "status": "failed", "selected": False})
    state.finish(4, {"round": 4, "status": "finalized", "selected": False})
    state.finish(5, {"round": 5, "status": "finalized", "selected": False})
    # an observer after a failed round (or the one after it): its members may be inactive
    assert chores_due(ctx, 3) and chores_due(ctx, 4) and not chores_due(ctx, 5)  # type: ignore[arg-type]
