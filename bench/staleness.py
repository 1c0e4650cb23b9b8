"""Staleness benchmark: the accuracy cost of overlapped rounds (staleness 1 vs 0).

8 nodes with IID shares of MNIST 5k train the CNN for 20 rounds, in-process, through the
node's round step (node.aggregate.step.round_step, the deployment's default rule fedavg).
Staleness 0: round r's updates are trained on round r's base (the model finalized in
round r - 1). Staleness 1: they are trained on round r - 1's base (what an overlapping
node trained on while round r - 1 was still exchanged and voted) and applied to round r's
base, the rule node/staleness.py states. Same genesis, partitions and seeds both ways.

    python bench/staleness.py                                 # ~5 CPU minutes on 2 cores
    python bench/staleness.py --task digits-mlp --nodes 2 --rounds 3 --out -   # smoke

Prints one JSON line (final accuracy both ways, the difference, both curves) and writes
it to docs/bench/staleness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.aggregate import build_rule  # noqa: E402
from node.aggregate.step import Contribution, round_step  # noqa: E402
from node.learning.local import accuracy_of, compute_delta, genesis_params  # noqa: E402
from node.learning.partition import iid_partition, train_test_split  # noqa: E402
from node.learning.tasks import get_task  # noqa: E402
from node.staleness import training_base  # noqa: E402

LR, BATCH, EPOCHS = 0.05, 32, 1  # node defaults (config lr, batch_size, epochs)
MAX_EXAMPLES = 10_000


def simulate(task_name: str, nodes: int, rounds: int, staleness: int, seed: int) -> list[float]:
    """Test accuracy after each round under ``staleness``."""
    task = get_task(task_name)
    train, test = train_test_split(task.load_all(), seed)
    parts = [iid_partition(train, i, nodes, seed) for i in range(nodes)]
    rule = build_rule("fedavg", 0)
    bases = {1: genesis_params(task)}  # round -> the model current when it opened
    curve: list[float] = []
    for r in range(1, rounds + 1):
        trained_on = training_base(staleness, r, bases.__getitem__)
        inputs = []
        for i, data in enumerate(parts):
            delta = compute_delta(task, trained_on, data, epochs=EPOCHS, lr=LR, batch_size=BATCH,
                                  seed=seed * 1_000_003 + r * 101 + i)  # fmt: skip
            inputs.append(Contribution(f"0x{i:040x}", delta, len(data)))
        step = round_step(rule, bases[r], inputs, cap=MAX_EXAMPLES)
        bases[r + 1] = step.model
        curve.append(round(accuracy_of(task, step.model, test), 4))
    return curve


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist5k-cnn")
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs/bench/staleness.json"),
                    help="JSON file to write, or - for none")  # fmt: skip
    args = ap.parse_args(argv)
    with ProcessPoolExecutor(2) as pool:  # the two runs side by side
        runs = [pool.submit(simulate, args.task, args.nodes, args.rounds, s, args.seed)
                for s in (0, 1)]  # fmt: skip
        fresh, stale = (run.result() for run in runs)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {
        "bench": "staleness",
        "task": args.task,
        "nodes": args.nodes,
        "rounds": args.rounds,
        "final_acc_staleness0": fresh[-1],
        "final_acc_staleness1": stale[-1],
        "final_acc_diff": round(stale[-1] - fresh[-1], 4),
        "best_acc_staleness0": max(fresh),
        "best_acc_staleness1": max(stale),
        "curve_staleness0": fresh,
        "curve_staleness1": stale,
        "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    line = json.dumps(out)
    print(line)
    if args.out != "-":
        Path(args.out).write_text(line + "\n")
    return out


if __name__ == "__main__":
    main()
