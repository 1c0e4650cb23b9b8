"""bench/privacy.py, run tiny in-process: its JSON line, the file it writes, the accountant."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from node.privacy.accountant import rdp_epsilon

BENCH = Path(__file__).resolve().parents[3] / "bench" / "privacy.py"


def test_tiny_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_privacy", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # its dataclasses look themselves up
    spec.loader.exec_module(bench)
    args = ["--task", "digits-mlp", "--nodes", "4", "--rounds", "1", "--epsilons", "3"]
    args += ["--f", "1", "--sweep", "0.1", "--workers", "0", "--out", str(tmp_path)]
    line = bench.main(args)
    printed = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(printed) == 1 and json.loads(printed[0]) == line
    assert json.loads((tmp_path / "privacy.json").read_text()) == line
    results = line["results"]
    assert set(results) == {
        "off|eps=inf|fedavg|f=0",
        "clip|eps=inf|fedavg|f=0",
        "local|eps=3|fedavg|f=0",
        "distributed|eps=3|fedavg|f=0",
        "off|eps=inf|fedavg|f=1",
        "off|eps=inf|dedup+geometric_median|f=1",
        "distributed|eps=3|fedavg|f=1",
        "distributed|eps=3|dedup+geometric_median|f=1",
        "sweep|C=0.5|z=0|fedavg|f=1",
        "sweep|C=0.5|z=0|dedup+geometric_median|f=1",
        "sweep|C=0.5|z=0.1|fedavg|f=1",
        "sweep|C=0.5|z=0.1|dedup+geometric_median|f=1",
    }
    dist = results["distributed|eps=3|fedavg|f=0"]
    z = dist["noise_multiplier"]
    # per round: [mode epsilon, per-blob epsilon] from the accountant, reaching the target
    assert dist["epsilon_per_round"][0][0] == pytest.approx(rdp_epsilon([z], 1e-5), abs=2e-3)
    assert 2.9 <= dist["epsilon_per_round"][-1][0] <= 3.0
    assert dist["epsilon_per_round"][-1][1] > 3.0  # each blob carries z / sqrt(4)
    local = results["local|eps=3|fedavg|f=0"]["epsilon_per_round"]
    assert local[-1][0] == local[-1][1] <= 3.0
    assert all(len(r["accuracy_per_round"]) == 1 for r in results.values())
    assert all(r["rejected"] == 0 for r in results.values())  # ALIE crafts inside the bound
    assert "distributed_eps3_gap_points" in line["targets"]
    assert "alie_f1_distributed_eps3" in line["targets"]
    sweep = line["targets"]["alie_f1_by_noise_C0.5"]
    assert set(sweep) == {"z=0", "z=0.1"}
    assert sweep["z=0"]["epsilon_after_rounds"] is None
    assert sweep["z=0.1"]["epsilon_after_rounds"] > 50  # noise that small protects little


def test_tiny_variants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_privacy", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)
    spec.loader.exec_module(bench)
    args = ["--variants", "--task", "digits-mlp", "--nodes", "3", "--rounds", "1"]
    args += ["--users-per-node", "2", "--user-epochs", "1", "--workers", "0"]
    args += ["--out", str(tmp_path)]
    line = bench.main(args)
    assert json.loads((tmp_path / "privacy_variants.json").read_text()) == line
    results = line["results"]
    assert set(results) == {
        "node|off",
        "node|clip",
        "node|eps3",
        "node|eps3|momentum",
        "users|off|momentum",
        "users|eps3",
        "users|eps3|momentum",
    }
    assert results["node|off"]["gap_points"] == 0
    # one round at the epsilon-3 multiplier of a 1-round deployment: epsilon 3, per user
    assert 2.9 <= results["users|eps3"]["epsilon_after_rounds"] <= 3.0
