"""bench/utilization.py, short: 3 real node processes on a devnet, digits, 2 rounds, the
dense column only (the compressed and overlapped columns are the same code on another
deployment setting; a run each would double or triple this test's ~30 s). Asserts on
its JSON line (columns present, rounds finalized, nodes on one model, figures in range,
accuracy above chance), never on wall time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BENCH = Path(__file__).resolve().parents[2] / "bench" / "utilization.py"
ROUNDS = 2
COLUMNS = {
    "utilization_without_overlap",
    "utilization_with_overlap",
    "with_overlap_reason",
    "bytes_per_node_per_round_dense",
    "bytes_per_node_per_round_compressed",
    "bytes_ratio_dense_over_compressed",
    "final_accuracy_dense",
    "final_accuracy_compressed",
    "with_compression_reason",
}


def test_short_utilization_bench_reports_every_column() -> None:
    command = [sys.executable, str(BENCH), "--task", "digits-mlp", "--nodes", "3"]
    command += ["--rounds", str(ROUNDS), "--epochs", "1", "--no-save"]
    command += ["--no-compression", "--no-overlap"]  # one run: the columns' code is shared
    run = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, run.stdout
    out = json.loads(lines[0])
    assert out["bench"] == "utilization" and out["rounds"] == ROUNDS
    assert set(out) >= COLUMNS, sorted(COLUMNS - set(out))
    dense = out["without_overlap"]
    assert dense["rounds_finalized"] == ROUNDS and dense["same_model_all_nodes"], dense
    assert 0 < out["utilization_without_overlap"] <= 1, dense
    assert out["utilization_with_overlap"] is None and out["with_overlap"] is None
    assert out["with_overlap_reason"] and out["with_compression_reason"]
    assert out["with_compression"] is None and out["final_accuracy_compressed"] is None
    assert out["bytes_per_node_per_round_dense"] > 0, dense  # each fetched 2 updates a round
    assert len(dense["accuracy_per_round"]) == ROUNDS
    assert out["final_accuracy_dense"] > 0.1, dense  # 10 classes: chance is 0.1
