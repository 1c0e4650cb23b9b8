"""A reward whose claim period ended (the contract answers ``ClaimPeriodOver``) is settled
for good: counted once, recorded, and never sent again in later rounds. Other refusals
are retried. The chain is scripted: the contract's side is covered by forge
(test/FedCoordinator.settlement.t.sol) and the invariant suite."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from node.chain.errors import TransactionRejected
from node.claims import claim_voter_rewards, reconcile_claims
from node.state import NodeState
from tests.unit.round_fixtures import AccountCtx as FakeCtx

ME = "0xMe"
KEY = b"k" * 16


@dataclass
class FakeChain:
    refusal: str  # what every claim is refused with
    sent: list[tuple[str, int]] = field(default_factory=list)

    def round_info(self, r: int) -> Any:
        return type(
            "Info",
            (),
            {"outcome_key": KEY, "voter_pool": 100, "winning_weight": 10, "vote_deadline": 0},
        )()

    def vote_of(self, r: int, address: str) -> tuple[bytes, int, bool]:
        return KEY, 10, False

    def current_round(self) -> int:
        return 9

    def chain_time(self) -> int:
        return 10_000

    def voter_claim_view(
        self, r: int, address: str
    ) -> tuple[Any, tuple[bytes, int, bool], int, int]:
        return self.round_info(r), self.vote_of(r, address), self.current_round(), self.chain_time()

    def is_claimed(self, r: int, address: str) -> bool:
        return False

    def claim_voter_reward(self, r: int) -> None:
        self.sent.append(("voter", r))
        raise TransactionRejected("claim voter reward", self.refusal)

    def claim(self, r: int, amount: int, proof: list[bytes]) -> None:
        self.sent.append(("claim", r))
        raise TransactionRejected("claim", self.refusal)


@pytest.fixture
def state(tmp_path: Path) -> NodeState:
    s = NodeState(tmp_path / "state.sqlite")
    record = {"round": 2, "status": "finalized", "reward": 5, "earned": 5, "proof": []}
    s.finish(2, record)
    s.update(2, voted=True, record=json.dumps(record))
    return s


def expired(ctx: FakeCtx) -> float:
    return ctx.metrics.get("claims_expired_total")


@pytest.mark.parametrize(
    ("refusal", "settled", "sends_in_two_rounds"),
    [("ClaimPeriodOver", True, 1), ("PoolExhausted", False, 2)],
)
def test_voter_reward_after_the_claim_period(
    state: NodeState, refusal: str, settled: bool, sends_in_two_rounds: int
) -> None:
    ctx = FakeCtx(FakeChain(refusal), state)
    for _ in range(2):
        trio.run(claim_voter_rewards, ctx, 9)
    assert ctx.chain.sent == [("voter", 2)] * sends_in_two_rounds
    (record,) = state.records()
    assert bool(record.get("voter_settled")) is settled
    assert expired(ctx) == (1 if settled else 0)


@pytest.mark.parametrize(
    ("refusal", "settled", "sends_in_two_rounds"),
    [("ClaimPeriodOver", True, 1), ("PoolExhausted", False, 2)],
)
def test_contributor_reward_after_the_claim_period(
    state: NodeState, refusal: str, settled: bool, sends_in_two_rounds: int
) -> None:
    ctx = FakeCtx(FakeChain(refusal), state)
    for _ in range(2):
        trio.run(reconcile_claims, ctx, 3)  # round 2 is the one just before: still watched
    assert ctx.chain.sent == [("claim", 2)] * sends_in_two_rounds
    (record,) = state.records()
    assert bool(record.get("claim_confirmed")) is settled
    assert bool(record.get("claim_expired")) is settled
