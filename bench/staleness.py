"""Staleness benchmark: the accuracy cost of overlapped rounds, per way of training ahead.

8 nodes with IID shares of MNIST 5k train the CNN for 20 rounds, in-process, through the
node's round step (node.aggregate.step.round_step, the deployment's default rule fedavg).
Staleness 0 ("fresh"): round r's updates are trained on round r's base (the model
finalized in round r - 1). Staleness 1: they name round r - 1's base (what an overlapping
node knows while round r - 1 is still exchanged and voted) and their aggregate is applied
to round r's base (node/staleness.py); the variants differ in where a node starts
training (VARIANTS; "eager" is what the node does, node/learning/eager.py) or, for
"damped", in how much of the aggregate is applied. Same genesis, partitions and seeds
for every variant, each in its own worker process of the same run.

    python bench/staleness.py                                 # ~5 CPU minutes on 2 cores
    python bench/staleness.py --epochs 10 --rounds 8 --out -  # real-node-like local work
    python bench/staleness.py --task digits-mlp --nodes 2 --rounds 3 --out -   # smoke

Prints one JSON line (final accuracy per variant, its difference to staleness 0, the
curves) and writes it to docs/bench/staleness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one torch thread per worker process
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from node.aggregate import build_rule  # noqa: E402
from node.aggregate.fedavg import apply_delta  # noqa: E402
from node.aggregate.step import Contribution, round_step  # noqa: E402
from node.learning.eager import eager_start  # noqa: E402
from node.learning.local import accuracy_of, compute_delta, genesis_params  # noqa: E402
from node.learning.partition import iid_partition, train_test_split  # noqa: E402
from node.learning.tasks import get_task  # noqa: E402
from node.staleness import training_base  # noqa: E402
from node.update.feedback import step as feedback_step  # noqa: E402
from node.update.fixedpoint import FixedParams  # noqa: E402
from node.update.sparse import permille_of  # noqa: E402

LR, BATCH, EPOCHS = 0.05, 32, 1  # node defaults (config lr, batch_size, epochs)
MAX_EXAMPLES = 10_000
DAMPING = 0.5  # variant "damped": the share of a stale aggregate applied
VARIANTS = {
    "fresh": "staleness 0: trained on the round's base",
    "stale": "(a) staleness 1, trained on the previous round's base",
    "eager": "(b) staleness 1, trained from the previous base + the node's own last delta",
    "eager_half": "(b') staleness 1, from the previous base + half the node's own last delta",
    "damped": f"(c) staleness 1, only {DAMPING} of each aggregate applied",
    "eager_mix": "(c) staleness 1, streaming-DiLoCo eager start: the previous base + 1/M of "
    "the own last delta + (1 - 1/M) of the last global move",
}


def scaled(delta: FixedParams, factor: float) -> FixedParams:
    return {n: np.round(v.astype(np.float64) * factor).astype(np.int32) for n, v in delta.items()}


def start_of(variant: str, r: int, bases: dict, own: FixedParams | None, nodes: int) -> FixedParams:
    """Where a node starts training round ``r`` under ``variant`` (``own``: the delta it
    committed in round r - 1, None in round 1)."""
    if variant == "fresh":
        return bases[r]
    trained_on = training_base(1, r, bases.__getitem__)  # the header's base
    if own is None or variant in ("stale", "damped"):
        return trained_on
    if variant == "eager":
        return eager_start(trained_on, own)
    if variant == "eager_half":
        return eager_start(trained_on, scaled(own, 0.5))
    moved = {n: bases[r - 1][n].astype(np.int64) - bases[r - 2][n] for n in own} if r > 2 else {}
    guess = {n: own[n] / nodes + moved.get(n, 0) * (1 - 1 / nodes) for n in own}
    return apply_delta(trained_on, {n: np.round(v).astype(np.int64) for n, v in guess.items()})


def simulate(task_name: str, nodes: int, rounds: int, variant: str, seed: int,
             epochs: int, codec: str) -> list[float]:  # fmt: skip
    """Test accuracy after each round under ``variant``; ``codec``'s compression with
    error feedback when it is not dense (node/update/feedback.py)."""
    task = get_task(task_name)
    train, test = train_test_split(task.load_all(), seed)
    parts = [iid_partition(train, i, nodes, seed) for i in range(nodes)]
    rule = build_rule("fedavg", 0)
    permille = permille_of(codec)
    bases = {1: genesis_params(task)}  # round -> the model current when it opened
    own: list[FixedParams | None] = [None] * nodes  # each node's last committed delta
    residual: list[FixedParams] = [{} for _ in range(nodes)]
    curve: list[float] = []
    for r in range(1, rounds + 1):
        inputs = []
        for i, data in enumerate(parts):
            start = start_of(variant, r, bases, own[i], nodes)
            delta = compute_delta(task, start, data, epochs=epochs, lr=LR, batch_size=BATCH,
                                  seed=seed * 1_000_003 + r * 101 + i)  # fmt: skip
            if permille is not None:
                delta, residual[i] = feedback_step(delta, residual[i], permille)
            own[i] = delta  # what it committed (decoded: the compressed delta itself)
            inputs.append(Contribution(f"0x{i:040x}", delta, len(data)))
        step = round_step(rule, bases[r], inputs, cap=MAX_EXAMPLES)
        model = step.model
        if variant == "damped" and step.delta is not None and r > 1:
            model = apply_delta(bases[r], scaled(step.delta, DAMPING))
        bases[r + 1] = model
        curve.append(round(accuracy_of(task, model, test), 4))
        print(f"{variant} round {r}: {curve[-1]}", file=sys.stderr, flush=True)
    return curve


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist5k-cnn")
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--codec", default="dense", help="update codec, e.g. topk-int8-p100")
    ap.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, of {', '.join(VARIANTS)} (fresh is always run)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs/bench/staleness.json"),
                    help="JSON file to write, or - for none")  # fmt: skip
    args = ap.parse_args(argv)
    names = ["fresh"] + [v for v in args.variants.split(",") if v and v != "fresh"]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    load_start = os.getloadavg()[0]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = {v: pool.submit(simulate, args.task, args.nodes, args.rounds, v, args.seed,
                               args.epochs, args.codec) for v in names}  # fmt: skip
        curves = {v: run.result() for v, run in runs.items()}
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    fresh = curves["fresh"][-1]
    best = max((v for v in names if v != "fresh"), key=lambda v: curves[v][-1], default=None)
    out = {
        "bench": "staleness",
        "task": args.task,
        "nodes": args.nodes,
        "rounds": args.rounds,
        "epochs": args.epochs,
        "codec": args.codec,
        "final_acc_staleness0": fresh,
        "final_acc": {v: curves[v][-1] for v in names},
        "final_acc_diff_vs_staleness0": {v: round(curves[v][-1] - fresh, 4) for v in names},
        "best_acc": {v: max(curves[v]) for v in names},
        "best_variant": best,
        "variants": {v: VARIANTS[v] for v in names},
        "curves": curves,
        "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 1),
        "load_avg_1m": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    line = json.dumps(out)
    print(line)
    if args.out != "-":
        Path(args.out).write_text(line + "\n")
    return out


if __name__ == "__main__":
    main()
