"""Compute utilization of real fedchain nodes (issue 14); prints ONE JSON line.

8 real node processes on a fresh devnet (bench/_nodes.py) train mnist5k-cnn with IID
partitions, with local work sized to about 10 s per round on the shared 2-core machine
(EPOCHS: 8 nodes trained an epoch of their 500 images in ~1.05 s each at load ~30, in a
20-round run of this bench; 0.54 s on a quiet machine, docs/bench/round_overhead.json).
--calibrate times an epoch with 8 trainers alone (it swings several-fold with the load:
5 s at the same load); --epochs auto runs with its answer. Per run:

- utilization = local training seconds per round / round seconds. Training seconds: each
  node's ``phase_seconds_total{phase="train"}`` over the rounds, averaged over nodes.
  Round seconds: the interval between the instants every node has recorded consecutive
  rounds (round 1, with the nodes' start-up, left out).
- bytes per node per round: each node's ``bytes_fetched_total`` + ``bytes_pushed_total``
  (update blobs it fetched, or took from their authors' pushes) over the rounds, averaged
  over nodes.
- final accuracy: the last round's finalized model on the shared test split.

Columns, each its own run of the same task in the same invocation: without overlap and
dense (today's default), with compression (the deployment's ``update_codec``, COMPRESSED)
and with overlap (the deployment's ``staleness`` 1). A column stays null, with its reason,
while its feature does not exist or when skipped.

    .venv/bin/python bench/utilization.py                      # 20 rounds, every column
    .venv/bin/python bench/utilization.py --rounds 3 --no-compression --no-save
    .venv/bin/python bench/utilization.py --epochs auto        # calibrate, then run
    .venv/bin/python bench/utilization.py --calibrate          # seconds per local epoch
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._nodes import cycle_seconds, load_avg, records_of, run_nodes  # noqa: E402

TASK = "mnist5k-cnn"
NODES = 8
EPOCHS = 10  # ~10 s of local training per round here (see the docstring)
TARGET_TRAIN_S = 10.0
COMPRESSED = "topk-int8-p100"  # bench/compression.py's codec: the top 10 % as int8
GOAL_UTILIZATION = 0.9
GOAL_BYTES_RATIO = 8
OUT = ROOT / "docs" / "bench" / "utilization.json"
NO_OVERLAP = "overlapped rounds (issue 14, item 2) are not built yet"
TRAIN_METRIC = 'phase_seconds_total{phase="train"}'


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def overlap_available() -> bool:
    """Overlapped rounds exist once the deployment has a staleness setting."""
    from node.operator.deploy import DeployRequest

    return "staleness" in DeployRequest.__dataclass_fields__


def measure(
    task: str,
    nodes: int,
    rounds: int,
    epochs: int,
    codec: str | None = None,
    staleness: int = 0,
) -> dict[str, Any]:
    """One run of real nodes; its utilization, bytes and accuracy figures."""
    run = run_nodes(task, nodes, rounds, epochs=epochs, update_codec=codec, staleness=staleness)
    metrics = [s.get("metrics", {}) for s in run.statuses]
    train = _mean([float(m.get(TRAIN_METRIC, 0.0)) / rounds for m in metrics])
    fetched = _mean([float(m.get("bytes_fetched_total", 0.0) + m.get("bytes_pushed_total", 0.0))
                     / rounds for m in metrics])  # fmt: skip
    cycles = cycle_seconds(run.all_recorded_at)
    round_s = _mean(cycles)
    per_node = [records_of(s) for s in run.statuses]
    last = per_node[0].get(rounds, {})
    return {
        "update_codec": codec or "default (dense)",
        "staleness": staleness,
        "utilization": round(train / round_s, 4) if train is not None and round_s else None,
        "train_s_per_round": train,
        "round_s": round_s,
        "per_round_s": [round(c, 3) for c in cycles],
        "bytes_per_node_per_round": round(fetched) if fetched is not None else None,
        "final_accuracy": last.get("accuracy"),
        "accuracy_per_round": [per_node[0][r].get("accuracy") for r in sorted(per_node[0])],
        "rounds_finalized": sum(
            all(recs.get(r, {}).get("status") == "finalized" for recs in per_node)
            for r in range(1, rounds + 1)
        ),
        "same_model_all_nodes": all(
            len({recs.get(r, {}).get("finalized_cid") for recs in per_node}) == 1
            for r in range(1, rounds + 1)
        ),
        "seconds_total": run.seconds_total,
        "load_avg": run.load_avg,
    }


def calibrate(task: str) -> dict[str, Any]:
    """Seconds per local epoch with ``NODES`` processes training side by side."""
    from bench.round_overhead import run_local

    local = run_local(task, 3)
    epoch_s = local["mean_round_s"]
    return {
        "bench": "utilization-calibrate",
        "task": task,
        "nodes": NODES,
        "epoch_s": epoch_s,
        "epochs_for_target": round(TARGET_TRAIN_S / epoch_s) if epoch_s else None,
        "load_avg": load_avg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=NODES)
    parser.add_argument(
        "--epochs", default=str(EPOCHS), help="local epochs, or auto: calibrate first"
    )
    parser.add_argument("--task", default=TASK)
    parser.add_argument("--codec", default=COMPRESSED, help="the compressed update codec")
    parser.add_argument("--no-compression", action="store_true", help="skip that column")
    parser.add_argument("--no-overlap", action="store_true", help="skip that column")
    parser.add_argument("--no-save", action="store_true", help=f"do not write {OUT.name}")
    parser.add_argument("--calibrate", action="store_true", help="time one local epoch")
    args = parser.parse_args()
    if args.calibrate:
        print(json.dumps(calibrate(args.task)))
        return
    if args.rounds < 2:
        parser.error("--rounds must be >= 2 (round 1 is left out of the round time)")
    if args.nodes < 3:
        parser.error("--nodes must be >= 3 (the deployment's minimum participants)")
    calibration = calibrate(args.task) if args.epochs == "auto" else None
    epochs = int(calibration["epochs_for_target"] or 1) if calibration else int(args.epochs)
    dense = measure(args.task, args.nodes, args.rounds, epochs)
    compressed = overlapped = None
    if not args.no_compression:
        compressed = measure(args.task, args.nodes, args.rounds, epochs, args.codec)
    overlap_reason = "skipped (--no-overlap)" if args.no_overlap else NO_OVERLAP
    if not args.no_overlap and overlap_available():
        overlapped = measure(args.task, args.nodes, args.rounds, epochs, staleness=1)
        overlap_reason = None
    ratio = None
    if compressed and compressed["bytes_per_node_per_round"]:
        ratio = round(dense["bytes_per_node_per_round"] / compressed["bytes_per_node_per_round"], 2)
    drop = None
    if compressed and None not in (dense["final_accuracy"], compressed["final_accuracy"]):
        drop = round(100 * (dense["final_accuracy"] - compressed["final_accuracy"]), 2)
    out = {
        "bench": "utilization",
        "task": args.task,
        "nodes": args.nodes,
        "rounds": args.rounds,
        "epochs": epochs,
        "calibration": calibration,
        "cpus": os.cpu_count(),
        "goal_utilization": GOAL_UTILIZATION,
        "goal_bytes_ratio": GOAL_BYTES_RATIO,
        "utilization_without_overlap": dense["utilization"],
        "utilization_with_overlap": overlapped and overlapped["utilization"],
        "with_overlap_reason": overlap_reason,
        "final_accuracy_overlap": overlapped and overlapped["final_accuracy"],
        "bytes_per_node_per_round_dense": dense["bytes_per_node_per_round"],
        "bytes_per_node_per_round_compressed": compressed
        and compressed["bytes_per_node_per_round"],
        "bytes_ratio_dense_over_compressed": ratio,
        "final_accuracy_dense": dense["final_accuracy"],
        "final_accuracy_compressed": compressed and compressed["final_accuracy"],
        "accuracy_drop_points": drop,
        "with_compression_reason": None if compressed else "skipped (--no-compression)",
        "without_overlap": dense,
        "with_compression": compressed,
        "with_overlap": overlapped,
    }
    line = json.dumps(out)
    print(line)
    if not args.no_save:
        OUT.write_text(line + "\n")


if __name__ == "__main__":
    main()
