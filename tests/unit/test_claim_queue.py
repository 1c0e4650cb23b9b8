"""Claims beside the round loop (node/claims.py ClaimQueue): a recorded round's reward is
claimed from its journal record, one request at a time and in order; a failed claim is
left to ``reconcile_claims``; ``drain`` waits for what was queued; a request after the
queue closed is dropped (claimed at restart) instead of failing the round; claims hold
until the next round's commit (``resume``) or ``HOLD_MAX_S``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from node.chain.errors import TransactionRejected
from node.claims import HOLD_MAX_S, ClaimQueue
from node.state import NodeState
from tests.unit.round_fixtures import AccountCtx as FakeCtx

ME = "0xMe"


@dataclass
class FakeChain:
    refuse: bool = False
    claimed: set[int] = field(default_factory=set)
    sent: list[tuple[str, int, int]] = field(default_factory=list)

    def is_claimed(self, r: int, address: str) -> bool:
        return r in self.claimed

    def claim(self, r: int, amount: int, proof: list[bytes]) -> dict[str, Any]:
        self.sent.append(("claim", r, amount))
        if self.refuse:
            raise TransactionRejected("claim", "PoolExhausted")
        self.claimed.add(r)
        return {"gasUsed": 1}


def recorded(state: NodeState, r: int, reward: int) -> None:
    record = {"round": r, "status": "finalized", "reward": reward, "earned": reward}
    state.finish(r, {**record, "proof": ["ab" * 32]})


@pytest.fixture
def state(tmp_path: Path) -> NodeState:
    return NodeState(tmp_path / "state.sqlite")


def run_queue(ctx: FakeCtx, requests: list[tuple[str, int]]) -> ClaimQueue:
    queue = ClaimQueue(ctx)  # type: ignore[arg-type]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.run)
            for kind, r in requests:
                queue.finished(r) if kind == "finished" else queue.reconcile(r)
            await queue.drain()
            queue.finished(99)  # closed: dropped, no error

    trio.run(main)
    return queue


def test_recorded_rewards_are_claimed_in_order_once(state: NodeState) -> None:
    recorded(state, 1, 5)
    recorded(state, 2, 0)  # nothing earned: nothing sent
    recorded(state, 3, 7)
    ctx = FakeCtx(FakeChain(), state)
    run_queue(ctx, [("finished", 1), ("finished", 2), ("finished", 3), ("finished", 3)])
    assert ctx.chain.sent == [("claim", 1, 5), ("claim", 3, 7)]
    assert state.get(1).claimed and state.get(3).claimed and not state.get(2).claimed


def test_a_refused_claim_is_left_to_reconcile_which_sends_it_again(state: NodeState) -> None:
    recorded(state, 1, 5)
    ctx = FakeCtx(FakeChain(refuse=True), state)
    run_queue(ctx, [("finished", 1)])  # refused: logged, the queue goes on
    assert not state.get(1).claimed
    ctx.chain.refuse = False
    run_queue(ctx, [("reconcile", 2)])  # the next round opened: claimed from the journal
    assert ctx.chain.sent == [("claim", 1, 5), ("claim", 1, 5)]
    assert state.get(1).claimed
    assert json.loads(state.get(1).record or "{}")["reward"] == 5


def test_claims_hold_until_the_next_commit_or_the_hold_limit(state: NodeState) -> None:
    recorded(state, 1, 5)
    recorded(state, 2, 6)
    ctx = FakeCtx(FakeChain(), state)
    queue = ClaimQueue(ctx)  # type: ignore[arg-type]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.run)
            queue.finished(1)
            await trio.sleep(HOLD_MAX_S / 2)
            assert ctx.chain.sent == []  # held: the next round's commit is not sent yet
            queue.resume()
            await trio.sleep(1)
            assert ctx.chain.sent == [("claim", 1, 5)]
            queue.finished(2)  # never resumed: sent once the hold limit passed
            await trio.sleep(HOLD_MAX_S + 1)
            assert ctx.chain.sent == [("claim", 1, 5), ("claim", 2, 6)]
            nursery.cancel_scope.cancel()

    trio.run(main, clock=MockClock(autojump_threshold=0))
