"""Robustness benchmark: best test accuracy under the worst attack, per rule and cell.

10 honest nodes with Dirichlet(alpha) label-skewed partitions + f Byzantine ones, rounds
simulated in-process over the real fixed-point path (compute_delta -> verification norm
check -> the node's round step). Byzantine inputs come first in canonical order (ties break
towards them: the pessimistic placement). Metric per cell: min over attacks of (mean over
seeds of the best test accuracy reached). Also attacker_reward_share: the Byzantine share
of the contribution scores summed over all rounds (the reward split follows the scores).

    python bench/robustness.py --quick      # digits only, < 10 min on 2 cores
    python bench/robustness.py              # full profile (digits + MNIST 5k, 3 seeds)

Prints one JSON line; writes docs/bench/robustness[_quick].md and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._partition import dirichlet_partition  # noqa: E402
from node.aggregate import build_rule  # noqa: E402
from node.aggregate.fedavg import capped_weights  # noqa: E402
from node.aggregate.step import Contribution, round_step, within_norm  # noqa: E402
from node.attacks import AttackContext, attack_names, get_attack  # noqa: E402
from node.learning.local import accuracy_of, compute_delta, genesis_params  # noqa: E402
from node.learning.partition import train_test_split  # noqa: E402
from node.learning.tasks import Dataset, get_task  # noqa: E402
from node.update.fixedpoint import SCALE  # noqa: E402

HONEST = 10
NORM_BOUND = 20.0  # node default (config norm_bound)
MAX_EXAMPLES = 10_000
DEFAULT_RULE = "dedup+geometric_median"
TASK_PARAMS = {
    "digits-mlp": {"lr": 0.1, "epochs": 2, "batch_size": 32},
    "mnist5k-mlp": {"lr": 0.1, "epochs": 1, "batch_size": 32},
}


@dataclass(frozen=True)
class Cell:
    task: str
    rule: str
    alpha: float
    f: int
    attack: str
    seed: int
    rounds: int
    reference: str = "updates"  # what scores project out: "global" delta or + "updates"


def simulate(cell: Cell) -> dict:
    """One training run; returns best accuracy and the Byzantine score share."""
    import torch

    torch.set_num_threads(1)
    task = get_task(cell.task)
    hp = TASK_PARAMS[cell.task]
    train, test = train_test_split(task.load_all(), cell.seed)
    parts = dirichlet_partition(train, HONEST, cell.alpha, cell.seed)
    attack = get_attack(cell.attack) if cell.f else None
    rule = build_rule(cell.rule, cell.f)
    rng = np.random.default_rng([cell.seed, cell.f, 7])
    base = genesis_params(task)
    previous: dict | None = None
    prev_honest: list | None = None
    prev_inputs: list = []
    best = 0.0
    byz_score = total_score = 0
    rejected = skipped = 0
    for r in range(cell.rounds):

        def train(data: Dataset, i: int, base=base, r=r) -> dict:
            seed = cell.seed * 1_000_003 + r * 101 + i
            return compute_delta(task, base, data, epochs=hp["epochs"], lr=hp["lr"],
                                 batch_size=hp["batch_size"], seed=seed)  # fmt: skip

        honest = [train(p, i) for i, p in enumerate(parts)]
        hw = [len(p) for p in parts]
        byz: list[dict] = []
        if attack is not None and attack.kind == "data":
            assert attack.labels is not None
            for k in range(cell.f):
                p = parts[k % HONEST]
                byz.append(train(Dataset(p.features, attack.labels(p.labels)), HONEST + k))
        elif attack is not None and attack.craft is not None:

            def agg(b: list, honest=honest, hw=hw, previous=previous) -> dict:
                ws = capped_weights([MAX_EXAMPLES] * len(b) + hw, MAX_EXAMPLES)
                return rule([*b, *honest], ws, previous).delta

            ctx = AttackContext(honest=honest, f=cell.f, rng=rng, aggregate=agg,
                                previous=previous, visible=prev_honest,
                                norm_bound=int(NORM_BOUND * SCALE))  # fmt: skip
            byz = attack.craft(ctx)
        # verification, as every node runs it, then the node's round step: rejected authors
        # are known Byzantine (f is lowered by their count); too few verified updates for
        # the rule, and every honest node keeps the base model and pays no contributions
        crafted = [Contribution(f"byz{k}", b, MAX_EXAMPLES) for k, b in enumerate(byz)]
        accepted, invalid = within_norm(crafted, NORM_BOUND)
        rejected += invalid
        inputs = [
            *accepted,
            *(Contribution(f"h{i}", h, w) for i, (h, w) in enumerate(zip(honest, hw, strict=True))),
        ]
        refs = [] if previous is None else [previous]
        if cell.reference == "updates":
            refs += prev_inputs
        step = round_step(rule, base, inputs, cap=MAX_EXAMPLES, invalid=invalid, reference=refs)
        if step.skipped is not None:
            skipped += 1
            best = max(best, accuracy_of(task, base, test))
            continue
        byz_score += sum(step.scores[: len(accepted)])
        total_score += sum(step.scores)
        base = step.model
        previous, prev_honest, prev_inputs = step.delta, honest, [c.delta for c in inputs]
        best = max(best, accuracy_of(task, base, test))
    return {
        **cell.__dict__,
        "best_acc": best,
        "byz_share": byz_score / total_score if total_score else 0.0,
        "rejected": rejected,
        "skipped_rounds": skipped,
    }


PROFILES = {
    "quick": {
        "tasks": ["digits-mlp"],
        "rules": ["fedavg", DEFAULT_RULE],
        "alphas": [1.0, 0.1],
        "fs": [1, 2, 3],
        "seeds": [0],
        "rounds": {"digits-mlp": 30},
        # withhold and freerider_zero only shrink the honest set; skipped to fit 10 minutes
        "attacks": [
            "alie",
            "freerider_copy",
            "freerider_stale",
            "gaussian",
            "ipm",
            "label_flip",
            "mimic",
            "near_tie",
            "sign_flip",
        ],  # fmt: skip
    },
    "full": {
        "tasks": ["digits-mlp", "mnist5k-mlp"],
        "rules": [
            "fedavg",
            "median",
            "trimmed_mean",
            "krum",
            "multi_krum",
            "geometric_median",
            "centered_clipping",
            "bulyan",
            "nnm+trimmed_mean",
            "nnm+centered_clipping",
        ],  # fmt: skip
        "alphas": [1.0, 0.1],
        "fs": [1, 2, 3],
        "seeds": [0, 1, 2],
        "rounds": {"digits-mlp": 30, "mnist5k-mlp": 20},
        "attacks": None,
    },
}


def summarize(rows: list[dict]) -> dict:
    """cell -> worst attack (mean over seeds of best accuracy), and reward shares."""
    per_attack: dict[tuple, list[float]] = {}
    shares: dict[tuple, list[float]] = {}
    for row in rows:
        key = (row["task"], row["rule"], row["alpha"], row["f"], row["attack"])
        per_attack.setdefault(key, []).append(row["best_acc"])
        shares.setdefault(key, []).append(row["byz_share"])
    cells: dict[tuple, tuple[float, str]] = {}
    for (task, rule, alpha, f, attack), accs in per_attack.items():
        mean = float(np.mean(accs))
        key = (task, rule, alpha, f)
        if key not in cells or mean < cells[key][0]:
            cells[key] = (mean, attack)
    return {
        "cells": cells,
        "shares": _worst_share(shares, lambda attack: True),
        # attacks a participant can mount under commit-reveal (nothing crafted from this
        # round's honest updates, which stay hidden until every commitment is on chain)
        "feasible_shares": _worst_share(shares, lambda a: not get_attack(a).omniscient),
        "per_attack": per_attack,
    }


def _worst_share(shares: dict[tuple, list[float]], include) -> dict[tuple, tuple[float, str]]:
    worst: dict[tuple, tuple[float, str]] = {}
    for (task, rule, alpha, f, attack), vals in shares.items():
        mean = float(np.mean(vals))
        key = (task, rule, alpha, f)
        if include(attack) and (key not in worst or mean > worst[key][0]):
            worst[key] = (mean, attack)
    return worst


def _table(task: str, rules: list[str], cols: list, values: dict) -> list[str]:
    """Markdown rows: one per rule, one column per (alpha, f): value (worst attack)."""
    head = " | ".join(f"a={a:g} f={f}" for a, f in cols)
    lines = [f"| rule | {head} |", "|---" * (len(cols) + 1) + "|"]
    for rule in rules:
        row = []
        for a, f in cols:
            value, worst = values.get((task, rule, a, f), (float("nan"), "-"))
            row.append(f"{value:.3f} ({worst})")
        lines.append(f"| {rule} | " + " | ".join(row) + " |")
    return [*lines, ""]


def write_outputs(summary: dict, profile: str, out_dir: Path, meta: dict) -> None:
    cells, shares, feasible = summary["cells"], summary["shares"], summary["feasible_shares"]
    tasks = sorted({k[0] for k in cells})
    cols = sorted({(k[2], k[3]) for k in cells}, key=lambda c: (-c[0], c[1]))
    lines = [f"# Robustness ({profile} profile)", "", "```", json.dumps(meta), "```", ""]
    lines += [
        "Best test accuracy under the worst attack (mean over seeds), worst attack in",
        "brackets; 10 honest + f Byzantine nodes, Dirichlet(alpha) partitions.",
        "",
    ]
    for task in tasks:
        rules = [r for r in meta["rules"] if (task, r, cols[0][0], cols[0][1]) in cells]
        lines.append(f"## {task}")
        lines.append("")
        omniscient = ", ".join(f"`{a}`" for a in attack_names() if get_attack(a).omniscient)
        lines += _table(task, rules, cols, cells)
        lines += ["Byzantine share of contribution scores (worst attack):", ""]
        lines += _table(task, rules, cols, shares)
        lines.append("Same, over the attacks possible under commit-reveal (without the ones")
        lines += [f"crafted from this round's honest updates: {omniscient}):", ""]
        lines += _table(task, rules, cols, feasible)
    suffix = "" if profile == "full" else f"_{profile}"
    (out_dir / f"robustness{suffix}.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
        for ax, task in zip(axes[0], tasks, strict=True):
            rules = [r for r in meta["rules"] if (task, r, cols[0][0], cols[0][1]) in cells]
            missing = (np.nan, "-")  # a rule that cannot run at this f (e.g. Bulyan, f = 3)
            grid = np.array(
                [[cells.get((task, r, a, f), missing)[0] for a, f in cols] for r in rules]
            )
            im = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis")
            ax.set_xticks(range(len(cols)), [f"a={a:g}\nf={f}" for a, f in cols])
            ax.set_yticks(range(len(rules)), rules)
            for i in range(len(rules)):
                for j in range(len(cols)):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="w")
            ax.set_title(f"{task}: worst-attack best accuracy")
        fig.colorbar(im, ax=axes.ravel().tolist())
        fig.savefig(out_dir / f"robustness{suffix}.png", dpi=110, bbox_inches="tight")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rules", help="comma-separated rule specs (override profile)")
    parser.add_argument("--attacks", help="comma-separated attacks (default: all)")
    parser.add_argument("--tasks", help="comma-separated tasks (override profile)")
    parser.add_argument("--seeds", type=int, help="number of seeds (override profile)")
    parser.add_argument("--alphas", help="comma-separated Dirichlet alphas (override)")
    parser.add_argument("--fs", help="comma-separated f values (override)")
    parser.add_argument("--rounds", type=int, help="rounds for every task (override)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench"))
    args = parser.parse_args()
    profile = "quick" if args.quick else "full"
    p = dict(PROFILES[profile])
    if args.rules:
        p["rules"] = args.rules.split(",")
    if args.tasks:
        p["tasks"] = args.tasks.split(",")
    if args.alphas:
        p["alphas"] = [float(a) for a in args.alphas.split(",")]
    if args.fs:
        p["fs"] = [int(f) for f in args.fs.split(",")]
    if args.rounds:
        p["rounds"] = {t: args.rounds for t in p["tasks"]}
    if args.seeds:
        p["seeds"] = list(range(args.seeds))
    attacks = args.attacks.split(",") if args.attacks else (p["attacks"] or attack_names())
    cells = [
        Cell(task, rule, alpha, f, attack, seed, p["rounds"].get(task, 20))
        for task in p["tasks"]
        for rule in p["rules"]
        for alpha in p["alphas"]
        for f in p["fs"]
        for attack in attacks
        for seed in p["seeds"]
        if HONEST + f >= build_rule(rule, f).min_inputs
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(pool.map(simulate, sorted(cells, key=lambda c: c.task != "mnist5k-mlp")))
    elapsed = time.perf_counter() - started
    summary = summarize(rows)
    meta = {
        "profile": profile,
        "rules": p["rules"],
        "attacks": attacks,
        "seeds": len(p["seeds"]),
        "rounds": p["rounds"],
        "honest": HONEST,
        "runs": len(rows),
        "seconds": round(elapsed, 1),
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_outputs(summary, profile, out_dir, meta)
    (out_dir / f"robustness{'' if profile == 'full' else '_' + profile}_runs.json").write_text(
        json.dumps(rows, indent=0) + "\n"
    )
    cells_out = summary["cells"]
    checks: dict[str, object] = {}
    for task in p["tasks"]:
        d = {(k[1], k[2], k[3]): v[0] for k, v in cells_out.items() if k[0] == task}
        if DEFAULT_RULE in p["rules"]:
            if all((DEFAULT_RULE, 1.0, f) in d for f in p["fs"]):
                checks[f"{task}:{DEFAULT_RULE}:min_acc_alpha1_f<=3"] = round(
                    min(d[(DEFAULT_RULE, 1.0, f)] for f in p["fs"]), 4
                )
            if (DEFAULT_RULE, 0.1, 2) in d:
                checks[f"{task}:{DEFAULT_RULE}:acc_alpha0.1_f2"] = round(
                    d[(DEFAULT_RULE, 0.1, 2)], 4
                )
            for alpha in p["alphas"]:
                for name, table in (("", "shares"), ("_commit_reveal", "feasible_shares")):
                    share = summary[table].get((task, DEFAULT_RULE, alpha, 3))
                    if share:
                        key = f"{task}:{DEFAULT_RULE}:attacker_reward_share_f3_alpha{alpha:g}"
                        checks[key + name] = [round(share[0], 4), share[1]]
        if ("fedavg", 1.0, 3) in d:
            checks[f"{task}:fedavg:min_acc_alpha1_f3"] = round(d[("fedavg", 1.0, 3)], 4)
    line = {
        "bench": "robustness",
        **meta,
        "results": {
            f"{k[0]}|{k[1]}|a={k[2]:g}|f={k[3]}": [round(v[0], 4), v[1]]
            for k, v in sorted(cells_out.items())
        },
        "targets": checks,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
