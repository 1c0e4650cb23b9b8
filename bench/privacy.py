"""Privacy benchmark: final accuracy under client-level DP, local and distributed.

8 nodes with IID shares of MNIST 5k train a CNN for 20 rounds, in-process over the node's
own fixed-point path: compute_delta -> privatize (clip to C, Gaussian noise, exact int32;
node/privacy/mechanism.py) -> verification norm check (the DP bound every node derives,
node/privacy/bound.py) -> rule -> apply_delta. For each target epsilon the noise multiplier
z comes from opacus (sample rate 1, 20 rounds, delta 1e-5), and the accountant's epsilon is
reported after every round. Local DP: every update carries std z*C. Distributed DP: each of
the K = 8 carries z*C/sqrt(8), so the sum carries z*C. Baseline: the same run without DP
(epsilon = inf), measured in the same run, and clipping to C without noise. Then ALIE with
f = 2 of the 8 nodes Byzantine (they add no noise and craft inside the DP norm bound): the
robust rule vs FedAvg at epsilon = 3, distributed DP, and without DP for reference.

    python bench/privacy.py                    # full profile (20 runs, ~10 CPU minutes)
    python bench/privacy.py --task digits-mlp --rounds 1 --nodes 5 --epsilons 3 --f 1 \
        --workers 0 --out /tmp/x                 # tiny, in-process

Prints one JSON line; writes docs/bench/privacy.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.aggregate import build_rule  # noqa: E402
from node.aggregate.fedavg import apply_delta, capped_weights  # noqa: E402
from node.attacks import AttackContext, get_attack  # noqa: E402
from node.errors import UpdateRejected  # noqa: E402
from node.learning.local import accuracy_of, compute_delta, genesis_params  # noqa: E402
from node.learning.partition import iid_partition, train_test_split  # noqa: E402
from node.learning.spec import TrainingSpec  # noqa: E402
from node.learning.tasks import Dataset, Task, get_task  # noqa: E402
from node.privacy.accountant import DpRound, epsilons, multiplier_for  # noqa: E402
from node.privacy.bound import update_norm_bound  # noqa: E402
from node.privacy.mechanism import privatize  # noqa: E402
from node.update.fixedpoint import SCALE, FixedParams  # noqa: E402
from node.verify.checks import check_norm  # noqa: E402

TASK = "mnist5k-cnn"
DELTA = 1e-5
NORM_BOUND = 20.0  # node default (config norm_bound), used without DP
MAX_EXAMPLES = 10_000
ROBUST_RULE = "dedup+geometric_median"


@dataclass(frozen=True)
class Run:
    mode: str  # off | local | distributed
    epsilon: float  # target (inf: no DP)
    z: float
    clip: float
    rule: str
    f: int  # Byzantine nodes among `nodes` (ALIE)
    nodes: int
    rounds: int
    lr: float
    epochs: int
    task: str = TASK
    seed: int = 0
    # privacy unit: 1 = the node (client-level DP); m > 1 = each node's data split into m
    # users, each user's update clipped to C, the node publishing their mean with noise
    # calibrated to one user (user-level DP: a different, weaker unit than the node)
    users: int = 1
    momentum: float = 0.0  # server momentum on the aggregate (post-processing: free in DP)


def simulate(run: Run) -> dict:
    try:
        return _simulate(run)
    except Exception as exc:  # node errors do not pickle back from a pool worker: say what
        raise RuntimeError(f"{run}: {type(exc).__name__}: {exc}") from None


def _simulate(run: Run) -> dict:
    import torch

    torch.set_num_threads(1)
    task = get_task(run.task)
    train, test = train_test_split(task.load_all(), run.seed)
    parts = [iid_partition(train, i, run.nodes, run.seed) for i in range(run.nodes)]
    mode = "local" if run.mode == "clip" else run.mode  # clip: clipping without noise
    spec = TrainingSpec(
        dp_mode=mode, dp_clip_norm=run.clip, dp_noise_multiplier=run.z, dp_delta=DELTA
    )
    base = genesis_params(task)
    shapes = {n: tuple(v.shape) for n, v in base.items()}
    bound = update_norm_bound(spec, shapes, NORM_BOUND)
    rule = build_rule(run.rule, run.f)
    rng = np.random.default_rng([run.seed, 17])
    honest_idx = range(run.f, run.nodes)  # Byzantine first in canonical order (pessimistic)
    accuracy, spent, rejected = [], [], 0
    velocity: dict[str, np.ndarray] = {}
    for r in range(run.rounds):
        honest = []
        for i in honest_idx:
            seed = run.seed * 1_000_003 + r * 101 + i
            if run.users > 1:
                delta = user_level_update(task, base, parts[i], run, spec, seed, rng)
                check_norm(delta, bound)  # what every verifier checks: well inside it
            else:
                delta = compute_delta(task, base, parts[i], epochs=run.epochs, lr=run.lr,
                                      batch_size=32, seed=seed)  # fmt: skip
                if run.mode != "off":
                    delta = privatize(delta, spec, run.nodes, bound, rng)
            honest.append(delta)
        hw = [len(parts[i]) for i in honest_idx]
        byz: list[dict] = []
        if run.f:

            def agg(b: list, honest=honest, hw=hw) -> dict:
                ws = capped_weights([len(parts[0])] * len(b) + hw, MAX_EXAMPLES)
                return rule([*b, *honest], ws, None).delta

            ctx = AttackContext(honest=honest, f=run.f, rng=rng, aggregate=agg,
                                norm_bound=int(bound * SCALE))  # fmt: skip
            byz = get_attack("alie").craft(ctx)  # type: ignore[misc]
        accepted = []
        for b in byz:
            try:
                check_norm(b, bound)
                accepted.append(b)
            except UpdateRejected:
                rejected += 1
        weights = capped_weights([len(parts[0])] * len(accepted) + hw, MAX_EXAMPLES)
        result = rule.after_invalid(len(byz) - len(accepted))([*accepted, *honest], weights, [])
        step = result.delta
        if run.momentum:
            for n, v in result.delta.items():
                velocity[n] = run.momentum * velocity.get(n, 0.0) + v.astype(np.float64)
            step = {n: np.rint(velocity[n]).astype(np.int32) for n in result.delta}
        base = apply_delta(base, step)
        accuracy.append(round(accuracy_of(task, base, test), 4))
        if run.mode in ("local", "distributed"):
            rounds = [DpRound(k, run.z, run.nodes, run.mode == "distributed") for k in range(r + 1)]
            spent.append(
                [round(e, 3) if math.isfinite(e) else None for e in epsilons(rounds, DELTA)]
            )
    return {**asdict(run), "accuracy": accuracy, "final": accuracy[-1], "epsilon_per_round": spent,
            "rejected": rejected, "bound": round(bound, 3)}  # fmt: skip


def user_level_update(
    task: Task,
    base: FixedParams,
    data: Dataset,
    run: Run,
    spec: TrainingSpec,
    seed: int,
    rng: np.random.Generator,
) -> FixedParams:
    """A node's update under user-level DP: its data split into ``run.users`` users, each
    user's update (trained from ``base`` on its own examples) clipped to C, their mean plus
    Gaussian noise of std (this mode's per-node std for one clipped update) / users: the
    sum over all users of all nodes then carries z*C against one user's C."""
    from node.privacy.mechanism import add_noise, clip_fixed, noise_std

    total: dict[str, np.ndarray] = {}
    for u, idx in enumerate(np.array_split(np.arange(len(data)), run.users)):
        user = Dataset(data.features[idx], data.labels[idx])
        delta = compute_delta(task, base, user, epochs=run.epochs, lr=run.lr,
                              batch_size=min(32, len(user)), seed=seed * 997 + u)  # fmt: skip
        if run.mode != "off":
            delta = clip_fixed(delta, run.clip)
        for n, v in delta.items():
            total[n] = total.get(n, 0) + v.astype(np.int64)
    mean = {n: np.rint(v / run.users).astype(np.int32) for n, v in total.items()}
    if run.mode in ("local", "distributed"):
        return add_noise(mean, noise_std(spec, run.nodes) / run.users, rng)
    return mean


def variants(args: argparse.Namespace) -> dict:
    """``--variants``: what could bring distributed DP at epsilon 3 near the non-private
    accuracy with 8 nodes, each run next to its own non-private reference: a clip norm near
    the updates' norm with server momentum (node-level DP, the issue's unit), and user-level
    DP with ``--users-per-node`` users per node (a different privacy unit: one user's few
    examples, not a node's data). Writes docs/bench/privacy_variants.json."""
    z = multiplier_for(3.0, DELTA, args.rounds)
    base = dict(nodes=args.nodes, rounds=args.rounds, lr=args.lr, task=args.task, rule="fedavg",
                f=0)  # fmt: skip
    node_level = dict(base, epochs=args.epochs, clip=args.variant_clip)
    users = dict(base, epochs=args.user_epochs, clip=args.user_clip, users=args.users_per_node)
    m = args.momentum or 0.9
    runs = {
        "node|off": Run("off", math.inf, 0.0, **node_level),  # type: ignore[arg-type]
        "node|clip": Run("clip", math.inf, 0.0, **node_level),  # type: ignore[arg-type]
        "node|eps3": Run("distributed", 3.0, z, **node_level),  # type: ignore[arg-type]
        "node|eps3|momentum": Run("distributed", 3.0, z, momentum=m, **node_level),  # type: ignore[arg-type]
        "users|off|momentum": Run("off", math.inf, 0.0, momentum=m, **users),  # type: ignore[arg-type]
        "users|eps3": Run("distributed", 3.0, z, **users),  # type: ignore[arg-type]
        "users|eps3|momentum": Run("distributed", 3.0, z, momentum=m, **users),  # type: ignore[arg-type]
    }
    if args.only:
        keep = {"node|off", *args.only.split(",")}  # the reference always runs
        runs = {k: run for k, run in runs.items() if k in keep}
    started = time.perf_counter()
    if args.workers == 0:
        rows = {k: simulate(run) for k, run in runs.items()}
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            rows = dict(zip(runs, pool.map(simulate, runs.values()), strict=True))
    non_private = rows["node|off"]["final"]
    line = {
        "bench": "privacy_variants",
        "task": args.task,
        "nodes": args.nodes,
        "rounds": args.rounds,
        "delta": DELTA,
        "noise_multiplier_eps3": round(z, 4),
        "node_clip": args.variant_clip,
        "users_per_node": args.users_per_node,
        "user_clip": args.user_clip,
        "user_epochs": args.user_epochs,
        "server_momentum": m,
        "seconds": round(time.perf_counter() - started, 1),
        "results": {
            k: {
                "final_accuracy": r["final"],
                "vs_non_private": round(r["final"] / non_private, 4),
                "gap_points": round((non_private - r["final"]) * 100, 2),
                "accuracy_per_round": r["accuracy"],
                "epsilon_after_rounds": r["epsilon_per_round"][-1][0]
                if r["epsilon_per_round"]
                else None,
            }
            for k, r in rows.items()
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(line)
    (out / "privacy_variants.json").write_text(text + "\n")
    print(text)
    return line


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--epsilons", default="8,3,1", help="comma-separated targets")
    parser.add_argument("--clip", type=float, default=0.05, help="DP clip norm C")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--f", type=int, default=2, help="ALIE attackers (0: skip)")
    parser.add_argument("--modes", default="local,distributed")
    parser.add_argument("--task", default=TASK)
    parser.add_argument(
        "--sweep", default="0.02,0.1,0.5", help="ALIE sweep: distributed-DP noise multipliers"
    )
    parser.add_argument("--sweep-clip", type=float, default=0.5, help="ALIE sweep: clip norm C")
    parser.add_argument(
        "--users-per-node",
        type=int,
        default=1,
        help="> 1: user-level DP, each node's data split into this many users",
    )
    parser.add_argument("--momentum", type=float, default=0.0, help="server momentum")
    parser.add_argument("--variants", action="store_true", help="the epsilon-3 variants only")
    parser.add_argument("--variant-clip", type=float, default=1.0, help="variants: node C")
    parser.add_argument("--user-clip", type=float, default=0.3, help="variants: user C")
    parser.add_argument("--user-epochs", type=int, default=3, help="variants: user epochs")
    parser.add_argument("--only", default="", help="variants: comma-separated keys to run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="0: in-process")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench"))
    args = parser.parse_args(argv)
    if args.variants:
        return variants(args)
    targets = [float(e) for e in args.epsilons.split(",")]
    z_of = {e: multiplier_for(e, DELTA, args.rounds) for e in targets}
    common = dict(clip=args.clip, nodes=args.nodes, rounds=args.rounds, lr=args.lr,
                  epochs=args.epochs, task=args.task, users=args.users_per_node,
                  momentum=args.momentum)  # fmt: skip
    runs = [Run("off", math.inf, 0.0, rule="fedavg", f=0, **common)]  # type: ignore[arg-type]
    runs.append(Run("clip", math.inf, 0.0, rule="fedavg", f=0, **common))  # type: ignore[arg-type]
    for mode in args.modes.split(","):
        runs += [Run(mode, e, z_of[e], rule="fedavg", f=0, **common) for e in targets]  # type: ignore[arg-type]
    attack_eps = 3.0 if 3.0 in z_of else targets[0]
    if args.f:
        for rule in ("fedavg", ROBUST_RULE):
            runs.append(Run("off", math.inf, 0.0, rule=rule, f=args.f, **common))  # type: ignore[arg-type]
            runs.append(Run("distributed", attack_eps, z_of[attack_eps], rule=rule, f=args.f,
                            **common))  # type: ignore[arg-type]  # fmt: skip
        # which rules still work at which noise: ALIE against FedAvg and the robust rule as
        # the distributed-DP noise grows (clipping only, then z = each sweep value)
        swept = {**common, "clip": args.sweep_clip}
        for z in [0.0, *(float(v) for v in args.sweep.split(",") if v)]:
            mode, eps = ("clip", math.inf) if z == 0 else ("distributed", math.nan)
            for rule in ("fedavg", ROBUST_RULE):
                runs.append(Run(mode, eps, z, rule=rule, f=args.f, **swept))  # type: ignore[arg-type]
    started = time.perf_counter()
    if args.workers == 0:
        rows = [simulate(run) for run in runs]
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            rows = list(pool.map(simulate, runs))
    elapsed = time.perf_counter() - started
    baseline = rows[0]["final"]
    results = {}
    for row in rows:
        key = f"{row['mode']}|eps={row['epsilon']:g}|{row['rule']}|f={row['f']}"
        if row["clip"] != args.clip:
            key = f"sweep|C={row['clip']:g}|z={row['z']:g}|{row['rule']}|f={row['f']}"
        results[key] = {
            "final_accuracy": row["final"],
            "vs_non_private": round(row["final"] / baseline, 4) if baseline else None,
            "noise_multiplier": round(row["z"], 4),
            "epsilon_per_round": row["epsilon_per_round"],
            "accuracy_per_round": row["accuracy"],
            "norm_bound": row["bound"],
            "rejected": row["rejected"],
        }
    main_rows = [r for r in rows if r["clip"] == args.clip]
    by_key = {(r["mode"], r["epsilon"], r["rule"], r["f"]): r["final"] for r in main_rows}
    targets_out: dict[str, object] = {"non_private_accuracy": baseline}
    dist3 = by_key.get(("distributed", 3.0, "fedavg", 0))
    if dist3 is not None:
        gap = round((baseline - dist3) * 100, 2)
        targets_out["distributed_eps3_gap_points"] = gap
        targets_out["distributed_eps3_within_5_points"] = gap <= 5
    for mode, eps in (("distributed", attack_eps), ("off", math.inf)):
        robust = by_key.get((mode, eps, ROBUST_RULE, args.f))
        plain = by_key.get((mode, eps, "fedavg", args.f))
        if robust is not None and plain is not None:
            targets_out[f"alie_f{args.f}_{mode}_eps{eps:g}"] = {
                ROBUST_RULE: robust,
                "fedavg": plain,
                "robust_beats_fedavg": robust > plain,
            }
    sweep: dict[str, dict] = {}
    for r in rows:
        if r["clip"] != args.clip:
            cell = sweep.setdefault(f"z={r['z']:g}", {})
            cell[r["rule"]] = r["final"]
            cell["epsilon_after_rounds"] = r["epsilon_per_round"][-1][0] if r["z"] else None
    if sweep:
        targets_out[f"alie_f{args.f}_by_noise_C{args.sweep_clip:g}"] = sweep
    line = {
        "bench": "privacy",
        "task": args.task,
        "nodes": args.nodes,
        "rounds": args.rounds,
        "delta": DELTA,
        "clip_norm": args.clip,
        "lr": args.lr,
        "epochs": args.epochs,
        "users_per_node": args.users_per_node,
        "server_momentum": args.momentum,
        "seconds": round(elapsed, 1),
        "results": results,
        "targets": targets_out,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(line)
    (out / "privacy.json").write_text(text + "\n")
    print(text)
    return line


if __name__ == "__main__":
    main()
