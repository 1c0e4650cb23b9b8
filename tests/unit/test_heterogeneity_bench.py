"""bench/heterogeneity.py, run tiny in-process: its JSON line and the file it writes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "heterogeneity.py"


def test_tiny_run_compares_the_three_algorithms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_heterogeneity", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # its dataclasses look themselves up
    spec.loader.exec_module(bench)
    out = tmp_path / "heterogeneity.json"
    args = ["--rounds", "1", "--seeds", "0", "--rules", "fedavg", "--prox-mu", "0.1",
            "--max-epochs", "3"]  # fmt: skip
    line = bench.main([*args, "--out", str(out)])
    printed = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(printed) == 1 and json.loads(printed[0]) == line
    assert json.loads(out.read_text()) == line
    scenario = line["results"]["max_epochs_3"]
    assert scenario["epochs_per_node"] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    results = scenario["fedavg"]
    assert set(results) == {"fedavg", "fedprox_mu0.1", "fednova"}
    curves = {name: r["curve_mean"] for name, r in results.items()}
    assert all(len(c) == 1 and all(0 <= a <= 1 for a in c) for c in curves.values())
    assert curves["fednova"] != curves["fedavg"] != curves["fedprox_mu0.1"]  # not the same runs
    prox = results["fedprox_mu0.1"]
    assert prox["final_acc_vs_fedavg"] == round(
        prox["final_acc"] - results["fedavg"]["final_acc"], 4
    )
    best = max(results, key=lambda k: results[k]["final_acc"])
    assert line["best"] == {"max_epochs_3": {"fedavg": [best, results[best].get(
        "final_acc_vs_fedavg", 0.0)]}}  # fmt: skip
