"""Waits on the chain (node/waits.py): a new block wakes them at once, a dead chain watch
never stalls them (they fall back to a timeout), and the node's own action is read back
every RECHECK_S all the same. Scripted chain and watch, trio's mock clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from node.chain.client import RoundInfo, RoundStatus
from node.ports import ChainPort
from node.state import NodeState
from node.waits import (
    RECHECK_S,
    WAKE_FALLBACK_S,
    RoundLost,
    commit_closed,
    round_settled,
    wait_until,
)
from tests.unit.round_fixtures import OPEN_ROUND, inline_port

OPEN = OPEN_ROUND


@dataclass
class Chain:
    """Round 1, read through ``round_view``; ``closes_at`` (trio clock): the commit window
    closes early from then on."""

    closes_at: float = float("inf")
    reads: list[float] = field(default_factory=list)
    status: RoundStatus = RoundStatus.OPEN

    def round_view(self, r: int) -> tuple[RoundInfo, int]:
        now = trio.current_time()
        self.reads.append(now)
        closed = 150 if now >= self.closes_at else 0
        return replace(OPEN, status=self.status, closed_at=closed), 120


class Watch:
    """A chain watch whose head moves only when the test says so (or never: dead)."""

    def __init__(self) -> None:
        self.head = 7
        self.mode = "websocket"
        self.round_logs_live = False  # no log subscription: a read per block
        self.round_marks = 0
        self._moved = trio.Event()

    def mine(self) -> None:
        self.head += 1
        self._moved.set()
        self._moved = trio.Event()

    async def wait(self, after: int, timeout: float) -> int:
        with trio.move_on_after(timeout):
            while self.head <= after:
                await self._moved.wait()
        return self.head

    def saw_time(self, stamp: int) -> None:
        return None


@dataclass
class Ctx:
    chain: Chain
    state: NodeState
    watch: Watch | None
    cfg: Any = field(default_factory=lambda: SimpleNamespace(poll_interval=0.5))
    link: Any = field(default_factory=lambda: SimpleNamespace(outages=0))

    @property
    def chain_port(self) -> ChainPort:
        return inline_port(self.chain)


@pytest.fixture
def state(tmp_path: Path) -> NodeState:
    return NodeState(tmp_path / "state.sqlite")


def run(fn: Any) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_new_block_wakes_the_wait_at_once(state: NodeState) -> None:
    chain, watch = Chain(closes_at=3.0), Watch()
    ctx = Ctx(chain, state, watch)

    async def main() -> float:
        async with trio.open_nursery() as nursery:

            async def mine_at(t: float) -> None:
                await trio.sleep_until(t)
                watch.mine()

            nursery.start_soon(mine_at, 0.25)
            nursery.start_soon(mine_at, 3.0)
            info = await wait_until(ctx, 1, commit_closed)  # type: ignore[arg-type]
            assert info.closed_at == 150
            return trio.current_time()

    done_at = run(main)
    assert chain.reads == [0.0, 0.25, 2.25, 3.0]  # the blocks, and one fallback in between
    assert done_at == 3.0


def test_a_dead_watch_falls_back_to_a_timeout(state: NodeState) -> None:
    chain = Chain(closes_at=7.0)
    ctx = Ctx(chain, state, Watch())  # never mines: its connection is gone

    run(lambda: wait_until(ctx, 1, commit_closed))  # type: ignore[arg-type]
    gaps = {b - a for a, b in zip(chain.reads, chain.reads[1:], strict=False)}
    assert gaps == {WAKE_FALLBACK_S}
    assert chain.reads[-1] >= 7.0


def test_own_action_is_read_back_every_recheck_with_a_dead_watch(state: NodeState) -> None:
    chain = Chain(closes_at=3 * RECHECK_S + 0.5)
    ctx = Ctx(chain, state, Watch())
    kept: list[float] = []

    async def keep(info: RoundInfo, now: int) -> None:
        kept.append(trio.current_time())

    run(lambda: wait_until(ctx, 1, commit_closed, keep))  # type: ignore[arg-type]
    assert len(kept) == 3
    assert all(b - a >= RECHECK_S for a, b in zip([0.0, *kept], kept, strict=False))


def test_without_a_watch_the_wait_polls(state: NodeState) -> None:
    chain = Chain(closes_at=1.2)
    run(lambda: wait_until(Ctx(chain, state, None), 1, commit_closed))  # type: ignore[arg-type]
    assert chain.reads == [0.0, 0.5, 1.0, 1.5]


def test_a_round_the_chain_forgot_is_lost(state: NodeState) -> None:
    chain = Chain(status=RoundStatus.NONE)
    with pytest.raises(RoundLost):
        run(lambda: wait_until(Ctx(chain, state, Watch()), 1, commit_closed))  # type: ignore[arg-type]


class LogWatch(Watch):
    """A chain watch that also counts the coordinator's round-changing logs."""

    def __init__(self) -> None:
        super().__init__()
        self.round_logs_live = True
        self.head_time = 120
        self.events = 0  # settle logs (Finalized, RoundFailed)
        self.param_marks = 0  # ParamsApplied logs
        self.stop_marks = 0  # DeploymentFinished logs

    def mine_block(self, logged: bool, stamp: int = 120, settles: bool = False) -> None:
        self.round_marks += logged or settles
        self.events += settles
        self.head_time = stamp
        self.mine()

    async def wait_settle(self, after: int, until: int, timeout: float) -> None:
        with trio.move_on_after(timeout):
            while self.events <= after and self.head_time < until:
                await self._moved.wait()

    async def wait_round(self, after: int, until: int, timeout: float) -> None:
        with trio.move_on_after(timeout):
            while self.round_marks <= after and self.head_time < until:
                await self._moved.wait()


def test_with_round_logs_only_logged_blocks_and_deadlines_wake_a_read(state: NodeState) -> None:
    """A block that carries only reward claims (no round log) wakes no read; a round log
    does, and so does a block whose time reaches the round's next deadline (200)."""
    chain, watch = Chain(closes_at=2.5), LogWatch()
    ctx = Ctx(chain, state, watch)

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def mine_at(t: float, logged: bool, stamp: int = 120) -> None:
                await trio.sleep_until(t)
                watch.mine_block(logged, stamp)

            nursery.start_soon(mine_at, 0.25, False)
            nursery.start_soon(mine_at, 1.0, True)
            nursery.start_soon(mine_at, 1.5, False)
            nursery.start_soon(mine_at, 2.5, False, 200)
            await wait_until(ctx, 1, commit_closed)  # type: ignore[arg-type]

    run(main)
    assert chain.reads == [0.0, 1.0, 2.5]


def test_a_vote_wait_wakes_on_settle_logs_not_on_each_vote(state: NodeState) -> None:
    """Waiting for the round to settle: other members' votes (round logs) wake no read;
    the Finalized log does (the scripted round reads settled from then on)."""
    chain, watch = Chain(), LogWatch()
    ctx = Ctx(chain, state, watch)

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def mine_at(t: float, settles: bool) -> None:
                await trio.sleep_until(t)
                if settles:
                    chain.status = RoundStatus.FINALIZED
                watch.mine_block(True, 121, settles)

            for t in (0.2, 0.4, 0.6):  # votes
                nursery.start_soon(mine_at, t, False)
            nursery.start_soon(mine_at, 0.8, True)  # the vote that finalizes
            info = await wait_until(ctx, 1, round_settled)  # type: ignore[arg-type]
            assert info.status is RoundStatus.FINALIZED

    run(main)
    assert chain.reads == [0.0, 0.8]
