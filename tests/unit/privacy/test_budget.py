"""A node publishes DP updates until one more would pass its epsilon budget, then sits out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import trio

from node.chain.client import RoundInfo, StakeInfo
from node.chainlink import ChainLink
from node.commit import train_and_commit
from node.learning.spec import TrainingSpec
from node.metrics import Metrics
from node.ports import ChainPort
from node.privacy import ledger
from node.privacy import step as privacy
from node.privacy.accountant import multiplier_for, rdp_epsilon
from node.state import RoundRow
from node.update.fixedpoint import SCALE
from tests.unit.round_fixtures import OPEN_ROUND

DELTA = 1e-5


class Chain:
    address = "0x" + "ab" * 20

    def __init__(self, spec: TrainingSpec, committee: list[str] | None) -> None:
        self.deployment = SimpleNamespace(training=spec)
        self._committee = committee

    def committee(self, r: int) -> list[str] | None:
        return self._committee

    def participants(self) -> list[Any]:
        return [SimpleNamespace(active=True)] * 5 + [SimpleNamespace(active=False)]

    def chain_time(self) -> int:
        return 150  # round 1's commit window is open

    def stake_info(self) -> StakeInfo:
        return StakeInfo(self.address, 10**20, 0, 0, True, 1)

    def commitment_cid(self, r: int, who: str) -> None:
        return None

    def commit_view(self, r: int) -> tuple[RoundInfo, StakeInfo, int]:
        return replace(OPEN_ROUND, round=r), self.stake_info(), self.chain_time()


class NoNetwork:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a node over its budget used the network ({name})")


def fake_ctx(tmp_path: Path, spec: TrainingSpec, budget: float, committee=None) -> Any:
    chain = Chain(spec, committee)
    return SimpleNamespace(
        chain=chain,
        chain_port=ChainPort(chain, ChainLink(Metrics())),  # type: ignore[arg-type]
        cfg=SimpleNamespace(
            data_dir=tmp_path, dp_epsilon_budget=budget, norm_bound=20.0, attack=""
        ),
        metrics=Metrics(),
        net=NoNetwork(),
        state=SimpleNamespace(get=lambda r: RoundRow(r)),
    )


def delta() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"w": np.rint(rng.normal(0, 0.1 * SCALE, (20, 10))).astype(np.int32)}


@pytest.mark.parametrize("mode", ["local", "distributed"])
def test_node_stops_at_its_budget(tmp_path: Path, mode: str) -> None:
    z = multiplier_for(3.0, DELTA, 4)  # 4 rounds reach epsilon 3
    spec = TrainingSpec(dp_mode=mode, dp_clip_norm=0.5, dp_noise_multiplier=z, dp_delta=DELTA)
    ctx = fake_ctx(tmp_path, spec, budget=3.0)
    published = []
    for r in range(1, 8):
        ok, entry = trio.run(privacy.plan, ctx, r)
        if not ok:
            continue
        assert entry is not None
        privacy.publish(ctx, delta(), entry)
        published.append(r)
    assert published == [1, 2, 3, 4]
    assert ctx.metrics.get("rounds_sat_out_total", reason="privacy_budget") == 3
    entries = ledger.load(tmp_path)
    assert {e.participants for e in entries} == {5}  # no committee: the active participants
    report = privacy.report(ctx)  # the round record; sets the gauges too
    assert report is not None
    assert ctx.metrics.get("dp_rounds") == 4
    assert ctx.metrics.get("dp_epsilon") == pytest.approx(rdp_epsilon([z] * 4, DELTA))
    assert ctx.metrics.get("dp_epsilon") == report["epsilon"] <= 3.0
    assert ctx.metrics.get("dp_epsilon_update") == report["epsilon_update"]
    assert report["rounds"] == 4 and report["epsilon"] <= 3.0
    if mode == "distributed":  # each blob carries z / sqrt(5): more epsilon against peers
        assert report["epsilon_update"] > report["epsilon"]


def test_train_and_commit_sits_out_before_training(tmp_path: Path) -> None:
    z = multiplier_for(3.0, DELTA, 2)
    spec = TrainingSpec(dp_mode="local", dp_clip_norm=0.5, dp_noise_multiplier=z, dp_delta=DELTA)
    ctx = fake_ctx(tmp_path, spec, budget=3.0, committee=["0x1", "0x2", "0x3"])
    for r in (1, 2):
        ok, entry = trio.run(privacy.plan, ctx, r)
        assert ok and entry is not None and entry.participants == 3
        ledger.record(tmp_path, entry)
    info = OPEN_ROUND.__class__(**{**OPEN_ROUND.__dict__, "round": 3})
    assert trio.run(train_and_commit, ctx, info, "bafybase") is None
    assert ctx.metrics.get("rounds_sat_out_total", reason="privacy_budget") == 1
    assert len(ledger.load(tmp_path)) == 2


def test_no_dp_no_ledger(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, TrainingSpec(), budget=1.0)
    assert trio.run(privacy.plan, ctx, 1) == (True, None)
    assert privacy.report(ctx) is None
    assert not (tmp_path / ledger.FILE).exists()
