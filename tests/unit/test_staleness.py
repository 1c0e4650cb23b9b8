"""Overlapped rounds: the base rule (node/staleness.py), the deployment option, the node's
reading of the rule from its journal and the chain, and the deltas trained ahead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import trio
import trio.testing

from node.ahead import AheadTraining, training_base
from node.chain.client import RoundStatus
from node.errors import ConfigError
from node.learning.spec import TrainingSpec
from node.operator.deploy import DeployRequest, training_spec
from node.staleness import staleness_problem, trained_round
from node.staleness import training_base as rule_base
from node.state import NodeState

BASES = {1: "genesis", 2: "m1", 3: "m1", 4: "m3"}  # round 2 failed: round 3 kept m1


def test_staleness_0_trains_on_the_round_base() -> None:
    assert [rule_base(0, r, BASES.__getitem__) for r in (1, 2, 3, 4)] == [
        "genesis", "m1", "m1", "m3",
    ]  # fmt: skip


def test_staleness_1_trains_on_the_previous_round_base() -> None:
    # round 1 has no earlier round; round 4 trains on round 3's base m1, applied to m3
    assert [rule_base(1, r, BASES.__getitem__) for r in (1, 2, 3, 4)] == [
        "genesis", "genesis", "m1", "m1",
    ]  # fmt: skip
    assert [trained_round(1, r) for r in (1, 2, 5)] == [1, 1, 4]


@pytest.mark.parametrize("bad", [-1, 2, 7])
def test_other_staleness_is_refused(bad: int) -> None:
    assert staleness_problem(bad) is not None
    with pytest.raises(ValueError, match="staleness must be 0"):
        trained_round(bad, 3)
    assert any("staleness" in p for p in TrainingSpec(staleness=bad).problems())
    with pytest.raises(ConfigError, match="--staleness must be 0"):
        training_spec(DeployRequest(staleness=bad))


def test_deployment_option_round_trips_and_defaults_to_0() -> None:
    spec = training_spec(DeployRequest(staleness=1))
    assert spec.staleness == 1 and spec.problems() == []
    assert TrainingSpec.from_json(spec.to_json()) == spec
    assert TrainingSpec.from_json({"algorithm": "fedavg"}).staleness == 0  # older files
    assert training_spec(DeployRequest()).staleness == 0


@dataclass
class Port:
    """The chain port reads ``training_base`` makes."""

    staleness: int
    statuses: dict[int, RoundStatus]
    models: dict[int, str]

    @property
    def deployment(self) -> Any:
        return SimpleNamespace(training=TrainingSpec(staleness=self.staleness))

    async def round_info(self, r: int) -> Any:
        return SimpleNamespace(status=self.statuses[r])

    async def latest_model_cid_of(self, r: int) -> str:
        return self.models[r]


def base_of(port: Port, state: NodeState, r: int, base_cid: str) -> str:
    return trio.run(training_base, port, state, "genesis", r, base_cid)  # type: ignore[arg-type]


def test_node_reads_the_previous_base_from_journal_then_chain(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "state.db")
    failed, final = RoundStatus.FAILED, RoundStatus.FINALIZED
    port = Port(1, {1: final, 2: failed, 3: failed}, {1: "m1"})
    assert base_of(Port(0, {}, {}), state, 4, "m3") == "m3"  # staleness 0: the round's base
    assert base_of(port, state, 1, "genesis") == "genesis"
    assert base_of(port, state, 2, "m1") == "genesis"  # nothing finalized before round 1
    # round 4 lacks a journal row for round 3: the last round before 3 that finalized is 1
    assert base_of(port, state, 4, "m1") == "m1"
    state.update(3, base_cid="journal-m")
    assert base_of(port, state, 4, "m1") == "journal-m"


def delta(value: int) -> dict[str, np.ndarray]:
    return {"w": np.full(2, value, dtype=np.int32)}


def test_deltas_trained_ahead_are_taken_once_on_their_base_or_discarded() -> None:
    counted: list[tuple[str, dict[str, object]]] = []
    trained: list[tuple[int, str]] = []

    async def train(r: int, base_cid: str) -> dict[str, np.ndarray]:
        trained.append((r, base_cid))
        await trio.sleep(0.01)  # still training when the round opens: take waits
        return delta(r)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ahead = AheadTraining(nursery, train, lambda n, **kw: counted.append((n, kw)), 1)
            ahead.follow(1, "genesis")  # committed round 1: round 2 trains on its base
            ahead.follow(1, "genesis")  # once per round
            got = await ahead.take(2, "genesis")
            assert got is not None and int(got["w"][0]) == 2 and 2 in ahead.used
            assert await ahead.take(2, "genesis") is None  # taken already
            ahead.follow(2, "m1")
            await trio.testing.wait_all_tasks_blocked()  # round 3's training has started
            ahead.follow(3, "m2")
            await trio.testing.wait_all_tasks_blocked()
            ahead.discard(3, "not_selected")  # round 3's committee lacks this node
            assert await ahead.take(4, "other") is None  # another base than it trained on
            ahead.follow(4, "m3")
            assert await ahead.take(6, "m5") is None  # round 5's delta is stale by now
        zero = AheadTraining(nursery, train, lambda n, **kw: None, 0)
        zero.follow(1, "genesis")  # staleness 0: nothing is trained ahead
        assert zero.jobs == {}

    trio.run(main)
    assert trained[:3] == [(2, "genesis"), (3, "m1"), (4, "m2")]
    assert counted == [
        ("updates_trained_ahead_total", {}),
        ("updates_trained_ahead_discarded_total", {"reason": "not_selected"}),
        ("updates_trained_ahead_discarded_total", {"reason": "other_base"}),
        ("updates_trained_ahead_discarded_total", {"reason": "stale"}),
    ]


def test_verification_accepts_exactly_the_base_the_rule_allows(tmp_path: Path) -> None:
    from node.errors import Rejection, UpdateRejected
    from node.update.codec import UpdateHeader, encode_update
    from node.verify.checks import Expectation, verify_update

    state = NodeState(tmp_path / "state.db")
    state.update(2, base_cid="m1")  # round 2's base; round 3's is m2
    port = Port(1, {}, {})
    allowed = base_of(port, state, 3, "m2")
    expect = Expectation("31337:0xd", 3, "0xa", allowed, {"w": (2,)}, 100, 10.0)
    for trained_on, ok in (("m1", True), ("m2", False), ("genesis", False)):
        blob = encode_update(UpdateHeader("31337:0xd", 3, "0xa", trained_on, 10), delta(1))
        if ok:
            assert verify_update(blob, expect)[0].base_cid == "m1"
            continue
        with pytest.raises(UpdateRejected) as rejected:
            verify_update(blob, expect)
        assert rejected.value.reason is Rejection.WRONG_BASE
