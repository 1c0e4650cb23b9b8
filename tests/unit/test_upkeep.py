"""The between-rounds chores (node/upkeep.py) against a scripted chain: who gets reported,
which rounds get swept, and that lost races are counted, not retried."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from node.chain.client import Participant, RoundStatus
from node.chain.errors import TransactionRejected
from node.state import NodeState
from node.upkeep import report_inactive, sweep_ended
from tests.unit.round_fixtures import AccountCtx as FakeCtx

ME, A, B, C = "0xMe", "0xA", "0xB", "0xC"


def rejected(error: str) -> TransactionRejected:
    return TransactionRejected("call", error)


@dataclass
class FakeChain:
    statuses: dict[int, RoundStatus] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    inactive: set[str] = field(default_factory=set)  # deactivated by someone
    deadlines: dict[int, int] = field(default_factory=dict)
    nothing_left: set[int] = field(default_factory=set)
    now: int = 1000
    sent: list[tuple[str, Any]] = field(default_factory=list)

    def round_info(self, r: int) -> Any:
        return type("Info", (), {"status": self.statuses[r]})()

    def params(self) -> Any:
        return type("Params", (), {"inactivity_rounds": 5})()

    def participants(self) -> list[Participant]:
        return [Participant(a, 10, "peer", [], a != C) for a in (ME, A, B, C)]

    def missed_rounds_of(self, addresses: list[str]) -> dict[str, int]:
        return {a: self.missed.get(a, 0) for a in addresses}

    def report_inactive(self, address: str) -> None:
        if address in self.inactive:
            raise rejected("NotInactive")
        self.sent.append(("report", address))

    def chain_time(self) -> int:
        return self.now

    def claim_deadline(self, r: int) -> int:
        return self.deadlines[r]

    def sweep(self, r: int) -> None:
        if r in self.nothing_left:
            raise rejected("NothingToSweep")
        self.sent.append(("sweep", r))


@pytest.fixture
def state(tmp_path: Path) -> NodeState:
    return NodeState(tmp_path / "state.sqlite")


def run(fn: Callable[..., Any], *args: Any) -> Any:
    return trio.run(fn, *args)


def test_reports_only_after_a_failed_round(state: NodeState) -> None:
    chain = FakeChain(statuses={4: RoundStatus.FINALIZED}, missed={A: 9})
    ctx = FakeCtx(chain, state)
    assert run(report_inactive, ctx, 5) == 0
    assert run(report_inactive, ctx, 1) == 0  # no previous round
    assert chain.sent == []


def test_reports_every_other_active_staker_past_the_limit(state: NodeState) -> None:
    chain = FakeChain(
        statuses={4: RoundStatus.FAILED},
        missed={ME: 9, A: 5, B: 4, C: 9},  # me: never itself; C: already inactive
        inactive=set(),
    )
    ctx = FakeCtx(chain, state)
    assert run(report_inactive, ctx, 5) == 1
    assert chain.sent == [("report", A)]
    assert ctx.metrics.as_dict().get("inactive_reported_total") == 1


def test_a_report_another_node_made_first_is_counted(state: NodeState) -> None:
    chain = FakeChain(statuses={4: RoundStatus.FAILED}, missed={A: 5, B: 7}, inactive={A})
    ctx = FakeCtx(chain, state)
    assert run(report_inactive, ctx, 5) == 1
    assert chain.sent == [("report", B)]
    assert ctx.metrics.as_dict().get("inactive_reports_lost_total") == 1


def finish(state: NodeState, r: int, status: str = "finalized") -> None:
    state.finish(r, {"round": r, "status": status})


def test_sweeps_ended_rounds_once_oldest_first(state: NodeState) -> None:
    for r in (1, 2, 3, 4, 5):
        finish(state, r, "failed" if r == 2 else "finalized")
    chain = FakeChain(deadlines={1: 900, 3: 1000, 4: 1000, 5: 1001}, nothing_left={4})
    ctx = FakeCtx(chain, state)
    assert run(sweep_ended, ctx) == [1, 3]  # 2 failed (refunded), 4 all claimed, 5 not yet
    assert chain.sent == [("sweep", 1), ("sweep", 3)]
    assert ctx.metrics.as_dict().get("sweeps_lost_total") == 1
    swept = {rec["round"]: rec.get("swept", False) for rec in state.records()}
    assert swept == {1: True, 2: False, 3: True, 4: True, 5: False}
    chain.sent.clear()
    assert run(sweep_ended, ctx) == []  # each round once; 5's period still runs
    chain.now = 1001
    assert run(sweep_ended, ctx) == [5]
    assert json.loads(state.get(5).record or "{}")["swept"] is True
