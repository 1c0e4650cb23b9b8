"""bench/compression.py, run tiny in-process: its JSON line and the file it writes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "compression.py"


def test_tiny_run_compares_dense_and_compressed_updates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_compression", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)
    spec.loader.exec_module(bench)
    out = tmp_path / "compression.json"
    args = ["--task", "digits-mlp", "--nodes", "2", "--rounds", "2", "--codec", "topk-int8-p50",
            "--workers", "0"]  # fmt: skip
    line = bench.main([*args, "--out", str(out)])
    printed = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(printed) == 1 and json.loads(printed[0]) == line
    assert json.loads(out.read_text()) == line
    assert line["codec"] == "topk-int8-p50" and line["baseline_codec"] == "fxp32-q16"
    dense, packed = line["bytes_per_update_dense"], line["bytes_per_update_compressed"]
    assert line["bytes_ratio"] == round(dense / packed, 2) > 8
    assert len(line["curve_dense"]) == len(line["curve_compressed"]) == 2
    assert line["curve_dense"] != line["curve_compressed"]  # not the same run twice
    assert line["final_acc_diff"] == round(
        line["final_acc_compressed"] - line["final_acc_dense"], 4
    )
