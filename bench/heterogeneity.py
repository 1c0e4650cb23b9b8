"""Heterogeneity benchmark: FedAvg vs FedProx vs FedNova under label skew and unequal work.

10 nodes on digits-mlp with Dirichlet(alpha = 0.1) label-skewed partitions, which also
gives them unequal data sizes (11 to 313 examples), in two scenarios: every node trains
one epoch (``max_epochs_1``: only the data sizes make the local step counts differ), and
node i trains 1 + i % 5 epochs (``max_epochs_5``: operators choose their own). Rounds are
simulated in-process over the node's real path: compute_delta (with FedProx's proximal
term) -> update header with the local step count -> encode/decode -> norm check ->
FedNova normalisation -> the deployment's rule -> apply_delta. Every algorithm starts from
the same genesis model with the same partitions and seeds, so the FedAvg runs of this same
invocation are the baseline.

    python bench/heterogeneity.py                 # 3 seeds x 30 rounds, ~8 min on 2 cores
    python bench/heterogeneity.py --rounds 3 --seeds 0 --out -   # smoke run

Prints one JSON line (final and best accuracy, rounds to 0.85, per scenario, rule and
algorithm; differences and ratios against FedAvg) and writes it to
docs/bench/heterogeneity.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._partition import dirichlet_partition  # noqa: E402
from node.aggregate import build_rule, fednova  # noqa: E402
from node.aggregate.fedavg import apply_delta, capped_weights  # noqa: E402
from node.learning.local import accuracy_of, compute_delta, genesis_params  # noqa: E402
from node.learning.partition import train_test_split  # noqa: E402
from node.learning.tasks import get_task  # noqa: E402
from node.learning.train import local_steps  # noqa: E402
from node.update.codec import UpdateHeader, decode_update, encode_update  # noqa: E402
from node.verify.checks import check_norm  # noqa: E402

TASK = "digits-mlp"
NODES = 10
ALPHA = 0.1
TARGET = 0.85
LR = 0.05  # node defaults (config lr, batch_size, norm_bound, max_examples)
BATCH = 32
NORM_BOUND = 20.0
MAX_EXAMPLES = 10_000
ALGORITHMS = ("fedavg", "fedprox", "fednova")


@dataclass(frozen=True)
class Run:
    algorithm: str
    rule: str
    seed: int
    rounds: int
    max_epochs: int
    prox_mu: float


def simulate(run: Run) -> list[float]:
    """Test accuracy after each round."""
    task = get_task(TASK)
    train, test = train_test_split(task.load_all(), run.seed)
    parts = dirichlet_partition(train, NODES, ALPHA, run.seed)
    epochs = [1 + i % run.max_epochs for i in range(NODES)]
    rule = build_rule(run.rule, 0 if run.rule == "fedavg" else 1)
    mu = run.prox_mu if run.algorithm == "fedprox" else 0.0
    base = genesis_params(task)
    accuracies = []
    for r in range(1, run.rounds + 1):
        deltas, steps, examples = [], [], []
        for i, data in enumerate(parts):
            delta = compute_delta(task, base, data, epochs=epochs[i], lr=LR, batch_size=BATCH,
                                  seed=run.seed * 1_000_003 + r * 101 + i, prox_mu=mu)  # fmt: skip
            tau = local_steps(len(data), epochs=epochs[i], batch_size=BATCH)
            header = UpdateHeader("bench:0", r, f"node{i:02d}", "base", len(data),
                                  local_steps=tau if run.algorithm == "fednova" else 0)  # fmt: skip
            header, delta = decode_update(encode_update(header, delta))
            check_norm(delta, NORM_BOUND)
            deltas.append(delta)
            steps.append(header.local_steps)
            examples.append(header.num_examples)
        weights = capped_weights(examples, MAX_EXAMPLES)
        if run.algorithm == "fednova":
            deltas = fednova.normalise(deltas, steps, weights)
        base = apply_delta(base, rule(deltas, weights).delta)
        accuracies.append(accuracy_of(task, base, test))
    return accuracies


def rounds_to(curve: list[float], target: float) -> int | None:
    return next((i + 1 for i, a in enumerate(curve) if a >= target), None)


def variants(algorithms: list[str], mus: list[float]) -> list[tuple[str, str, float]]:
    """(result key, algorithm, prox_mu): one FedProx run per mu (``fedprox_mu0.1``)."""
    out = []
    for algorithm in algorithms:
        if algorithm not in ALGORITHMS:
            raise SystemExit(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
        if algorithm == "fedprox":
            out += [(f"fedprox_mu{mu:g}", algorithm, mu) for mu in mus]
        else:
            out.append((algorithm, algorithm, 0.0))
    return out


def summarize(curves: dict[tuple[str, str], list[list[float]]], rounds: int) -> dict:
    """Per (rule, variant): mean final / best accuracy over seeds, and rounds to TARGET
    (mean over seeds; a seed that never reaches it counts as rounds + 1), with the
    difference and ratio against FedAvg (same rule, same seeds, same run)."""
    out: dict = {}
    for (rule, key), runs in curves.items():
        reached = [rounds_to(c, TARGET) for c in runs]
        out.setdefault(rule, {})[key] = {
            "final_acc": round(float(np.mean([c[-1] for c in runs])), 4),
            "best_acc": round(float(np.mean([max(c) for c in runs])), 4),
            "rounds_to_target": reached,
            "mean_rounds_to_target": round(
                float(np.mean([rounds + 1 if r is None else r for r in reached])), 2
            ),
            "curve_mean": [round(float(v), 4) for v in np.mean(runs, axis=0)],
        }
    for algos in out.values():
        base = algos.get("fedavg")
        for key, res in algos.items():
            if key == "fedavg" or base is None:
                continue
            res["final_acc_vs_fedavg"] = round(res["final_acc"] - base["final_acc"], 4)
            res["rounds_ratio_vs_fedavg"] = round(
                res["mean_rounds_to_target"] / base["mean_rounds_to_target"], 3
            )
    return out


def best_variant(results: dict) -> list:
    """[key, gain over FedAvg] of the variant with the best mean final accuracy."""
    acc, key = max((r["final_acc"], k) for k, r in results.items())
    return [key, results[key].get("final_acc_vs_fedavg", 0.0)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seeds", type=str, default="0,1,2")
    parser.add_argument("--rules", type=str, default="fedavg,trimmed_mean",
                        help="aggregation rules (robust ones with f = 1)")  # fmt: skip
    parser.add_argument("--algorithms", type=str, default=",".join(ALGORITHMS))
    parser.add_argument("--max-epochs", type=str, default="1,5",
                        help="scenarios: node i trains 1 + i % M epochs")  # fmt: skip
    parser.add_argument("--prox-mu", type=str, default="0.01,0.1", help="FedProx mu values")
    parser.add_argument("--out", type=str, default=str(ROOT / "docs/bench/heterogeneity.json"),
                        help="'-' to print only")  # fmt: skip
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    rules = [s.strip() for s in args.rules.split(",")]
    runs = variants(args.algorithms.split(","), [float(m) for m in args.prox_mu.split(",")])
    started = time.monotonic()
    results: dict = {}
    for max_epochs in [int(m) for m in args.max_epochs.split(",")]:
        curves: dict[tuple[str, str], list[list[float]]] = {}
        for rule in rules:
            for key, algorithm, mu in runs:
                for seed in seeds:
                    run = Run(algorithm, rule, seed, args.rounds, max_epochs, mu)
                    curves.setdefault((rule, key), []).append(simulate(run))
        results[f"max_epochs_{max_epochs}"] = {
            "epochs_per_node": [1 + i % max_epochs for i in range(NODES)],
            **summarize(curves, args.rounds),
        }
    line = {
        "bench": "heterogeneity",
        "task": TASK,
        "nodes": NODES,
        "alpha": ALPHA,
        "rounds": args.rounds,
        "seeds": seeds,
        "target": TARGET,
        "results": results,
        # per scenario and rule: the variant with the best mean final accuracy, its gain
        # over FedAvg
        "best": {
            scenario: {rule: best_variant(res) for rule, res in by_rule.items() if rule in rules}
            for scenario, by_rule in results.items()
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    text = json.dumps(line, sort_keys=True)
    print(text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return line


if __name__ == "__main__":
    main()
