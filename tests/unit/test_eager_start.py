"""Eager start for overlapped rounds (node/learning/eager.py): a node trains round r's
update ahead from round r - 1's base plus exactly the delta it committed in round r - 1
(decoded, so under error feedback the residual it kept is not counted twice), and a node
training once round r is open starts from round r's base; the header keeps naming the
base the staleness rule names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import trio

from node import commit
from node.learning.eager import eager_start
from node.learning.spec import TrainingSpec
from node.state import NodeState
from node.store.cid import compute_cid
from node.update.codec import UpdateHeader, encode_update
from node.update.feedback import step as feedback_step
from node.update.fixedpoint import INT32_MAX

CODEC = "topk-int8-p100"


def test_eager_start_adds_the_own_delta_saturating() -> None:
    base = {"b": np.array([1, INT32_MAX], dtype=np.int32), "a": np.zeros(3, dtype=np.int32)}
    own = {"b": np.array([2, 5], dtype=np.int32), "a": np.array([-1, 0, 1], dtype=np.int32)}
    start = eager_start(base, own)
    assert list(start) == ["a", "b"] and all(v.dtype == np.int32 for v in start.values())
    assert start["b"].tolist() == [3, INT32_MAX] and start["a"].tolist() == [-1, 0, 1]
    assert eager_start(base, None)["b"].tolist() == [1, INT32_MAX]  # nothing committed
    wrong = {"b": np.ones(3, dtype=np.int32), "a": own["a"]}  # not the model's shapes
    assert eager_start(base, wrong)["b"].tolist() == [1, INT32_MAX]


class Blobs:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def has(self, cid: str) -> bool:
        return cid in self.blobs

    async def get(self, cid: str, *args: Any, **kwargs: Any) -> bytes:
        return self.blobs[cid]


def context(tmp_path: Path, staleness: int, codec: str) -> Any:
    training = TrainingSpec(staleness=staleness, update_codec=codec)
    chain = SimpleNamespace(deployment=SimpleNamespace(training=training))
    return SimpleNamespace(chain_port=chain, state=NodeState(tmp_path / "s.db"), blobs=Blobs())


def test_training_ahead_starts_from_the_committed_delta_not_the_residual(
    tmp_path: Path, monkeypatch: Any
) -> None:
    rng = np.random.default_rng(0)
    models = {"m1": {"w": rng.integers(-1000, 1000, 40).astype(np.int32)}}
    ctx = context(tmp_path, 1, CODEC)
    # round 1: the node trained `trained`, committed its compressed part, kept the rest
    trained = {"w": rng.integers(-500, 500, 40).astype(np.int32)}
    sent, residual = feedback_step(trained, {}, 100)
    assert np.any(residual["w"])  # compression left something out
    blob = encode_update(UpdateHeader("1:0xc", 1, "0xa", "genesis", 10, CODEC), sent)
    ctx.blobs.blobs[compute_cid(blob)] = blob
    ctx.state.update(1, update_cid=compute_cid(blob))
    starts: list[dict[str, np.ndarray]] = []

    async def load_model(_ctx: Any, cid: str) -> dict[str, np.ndarray]:
        return models[cid]

    async def train_delta(_ctx: Any, start: Any, r: int, **kw: Any) -> dict[str, np.ndarray]:
        starts.append(start)
        return {"w": np.zeros(40, dtype=np.int32)}

    monkeypatch.setattr(commit, "load_model", load_model)
    monkeypatch.setattr(commit, "train_delta", train_delta)
    trio.run(commit.train_ahead, ctx, 2, "m1")  # round 2, ahead, on round 1's base m1
    assert starts[-1]["w"].tolist() == (models["m1"]["w"] + sent["w"]).tolist()
    trio.run(commit.train_ahead, ctx, 4, "m1")  # nothing stored for round 3: the base
    assert starts[-1]["w"].tolist() == models["m1"]["w"].tolist()


def test_training_at_open_starts_from_the_round_base(tmp_path: Path, monkeypatch: Any) -> None:
    models = {"m2": {"w": np.full(3, 7, dtype=np.int32)}}

    async def load_model(_ctx: Any, cid: str) -> dict[str, np.ndarray]:
        return models[cid]

    monkeypatch.setattr(commit, "load_model", load_model)
    trained_on = {"w": np.zeros(3, dtype=np.int32)}  # round 1's base, named in the header
    stale = context(tmp_path, 1, "dense")
    stale.state.update(2, base_cid="m2")
    assert trio.run(commit.start_of, stale, 2, trained_on)["w"].tolist() == [7, 7, 7]
    assert trio.run(commit.start_of, stale, 3, trained_on) is trained_on  # base unknown
    fresh = context(tmp_path / "0", 0, "dense")
    fresh.state.update(2, base_cid="m2")
    assert trio.run(commit.start_of, fresh, 2, trained_on) is trained_on


def test_a_delta_trained_ahead_is_dropped_when_the_previous_round_kept_its_base() -> None:
    from node.ahead import AheadTraining

    counted: list[tuple[str, dict[str, object]]] = []

    async def train(r: int, base_cid: str) -> dict[str, np.ndarray]:
        return {"w": np.full(2, r, dtype=np.int32)}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ahead = AheadTraining(nursery, train, lambda n, **kw: counted.append((n, kw)), 1)
            ahead.follow(1, "m1")
            # round 1 failed: round 2's base is still m1, so round 2's eager start (m1 + the
            # own round 1 delta) was never the model
            assert await ahead.take(2, "m1", round_base="m1") is None
            ahead.follow(2, "m1")  # round 2 finalized: round 3's base m3 moved on from m1
            assert await ahead.take(3, "m1", round_base="m3") is not None

    trio.run(main)
    assert counted == [
        ("updates_trained_ahead_discarded_total", {"reason": "base_unchanged"}),
        ("updates_trained_ahead_total", {}),
    ]
