"""Aggregation speed: each rule's time / a plain mean of the same inputs, same run.

n in {10, 32, 64} updates of d in {1e5, 1e6} parameters (float32 deltas quantized to the
fixed-point int32 the node aggregates). The baseline is the memory floor: ``np.mean`` of
the stacked float32 inputs. Two ratios per rule: ``agg`` (flatten + exact integer rule +
unflatten: what decides the model) and ``full`` (agg + contribution scores, one more exact
Gram matrix). Optional extras, if importable: Flower's ``aggregate_*`` functions and
ByzFL's aggregators on identical inputs (agreement with ours + speed ratio).

    python bench/aggregation_speed.py [--quick]

Prints one JSON line; writes docs/bench/aggregation_speed.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.aggregate import build_rule  # noqa: E402
from node.aggregate.vectors import flatten, unflatten  # noqa: E402
from node.update.fixedpoint import SCALE  # noqa: E402

F = 3
RULES = ["fedavg", "median", "trimmed_mean", "krum", "multi_krum", "geometric_median",
         "centered_clipping", "bulyan", "nnm+trimmed_mean", "clip+trimmed_mean",
         "dedup+geometric_median"]  # fmt: skip
COORDINATE = {"median", "trimmed_mean", "fedavg"}
GRAM = {"krum", "multi_krum", "nnm+trimmed_mean"}
SHAPES = [(4, 1)]  # split each input into two tensors (a bias and a weight), like a model


def best_time(fn: Callable[[], object], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def make_inputs(n: int, d: int, seed: int) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 0.01, d).astype(np.float32)
    floats, fixed = [], []
    for _ in range(n):
        v = signal + rng.normal(0, 0.01, d).astype(np.float32)
        f = {"bias": v[:1000].copy(), "weight": v[1000:].copy()}
        floats.append(f)
        fixed.append(
            {k: np.rint(a.astype(np.float64) * SCALE).astype(np.int32) for k, a in f.items()}
        )
    return floats, fixed


def plain_mean(floats: list[dict]) -> dict:
    return {k: np.mean(np.stack([f[k] for f in floats]), axis=0) for k in sorted(floats[0])}


def load_extras() -> dict[str, object]:
    """Flower's aggregate.py and ByzFL's aggregators, loaded without their heavy imports."""
    extras: dict[str, object] = {}
    spec = importlib.util.find_spec("flwr")
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "server/strategy/aggregate.py"
        stubs = {
            "flwr.common": types.SimpleNamespace(
                FitRes=object, NDArray=np.ndarray, NDArrays=list, parameters_to_ndarrays=None
            ),
            "flwr.server.client_proxy": types.SimpleNamespace(ClientProxy=object),
        }
        saved = {k: sys.modules.get(k) for k in stubs}
        try:
            sys.modules.update(stubs)  # type: ignore[arg-type]
            mod_spec = importlib.util.spec_from_file_location("flwr_aggregate", path)
            assert mod_spec and mod_spec.loader
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
            extras["flwr"] = module
        except Exception as exc:  # noqa: BLE001 - optional extra
            extras["flwr_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
    else:
        extras["flwr_error"] = "not installed (pip install flwr)"
    spec = importlib.util.find_spec("byzfl")
    if spec and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        if "byzfl" not in sys.modules:  # skip byzfl/__init__ (it imports torchvision)
            pkg = types.ModuleType("byzfl")
            pkg.__path__ = [str(root)]
            sys.modules["byzfl"] = pkg
        try:
            from byzfl.aggregators import aggregators, preaggregators  # type: ignore

            extras["byzfl"] = (aggregators, preaggregators)
        except Exception as exc:  # noqa: BLE001 - optional extra
            extras["byzfl_error"] = f"{type(exc).__name__}: {exc}"
    else:
        extras["byzfl_error"] = "not installed (pip install byzfl)"
    return extras


def extra_cases(extras: dict, f: int) -> dict[str, tuple[str, Callable]]:
    """name -> (our rule spec, fn(list of flat float64 vectors) -> float vector)."""
    cases: dict[str, tuple[str, Callable]] = {}
    fl = extras.get("flwr")
    if fl is not None:
        m = fl  # type: ignore[assignment]
        cases["flwr.aggregate_median"] = (
            "median", lambda vs: m.aggregate_median([([v], 1) for v in vs])[0])  # fmt: skip
        cases["flwr.aggregate_trimmed_avg"] = (
            "trimmed_mean",
            lambda vs: m.aggregate_trimmed_avg([([v], 1) for v in vs], f / len(vs))[0],
        )
        cases["flwr.aggregate_krum"] = (
            "krum", lambda vs: m.aggregate_krum([([v], 1) for v in vs], f, 0)[0])  # fmt: skip
        cases["flwr.aggregate_krum(multi)"] = (
            "multi_krum",
            lambda vs: m.aggregate_krum([([v], 1) for v in vs], f, len(vs) - f)[0],
        )
    bz = extras.get("byzfl")
    if bz is not None:
        ag, pre = bz  # type: ignore[misc]
        cases["byzfl.Median"] = ("median", lambda vs: ag.Median()(np.stack(vs)))
        cases["byzfl.TrMean"] = ("trimmed_mean", lambda vs: ag.TrMean(f)(np.stack(vs)))
        cases["byzfl.Krum"] = ("krum", lambda vs: ag.Krum(f)(np.stack(vs)))
        cases["byzfl.MultiKrum"] = ("multi_krum", lambda vs: ag.MultiKrum(f)(np.stack(vs)))
        cases["byzfl.GeometricMedian"] = (
            "geometric_median",
            lambda vs: ag.GeometricMedian(nu=0.1, T=8)(np.stack(vs)),
        )
        cases["byzfl.NNM+TrMean"] = (
            "nnm+trimmed_mean",
            lambda vs: ag.TrMean(f)(pre.NNM(f)(np.stack(vs))),
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=32, d=1e6 only")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench"))
    args = parser.parse_args()
    grid = [(32, 10**6)] if args.quick else [(n, d) for d in (10**5, 10**6) for n in (10, 32, 64)]
    extras = load_extras()
    results: dict[str, dict] = {}
    agreement: dict[str, dict] = {}
    for n, d in grid:
        reps = 3 if n * d <= 32 * 10**6 else 2
        floats, fixed = make_inputs(n, d, seed=n + d)
        base = best_time(lambda floats=floats: plain_mean(floats), reps + 2)
        cell: dict[str, object] = {"mean_s": round(base, 4)}
        weights = [1] * n
        for spec in RULES:
            rule = build_rule(spec, F)
            if n < rule.min_inputs:
                cell[spec] = {"agg": None, "full": None}
                continue

            def agg_only(rule=rule, fixed=fixed, weights=weights) -> object:
                x, layout = flatten(fixed)
                vector, _ = rule.aggregate_matrix(x, weights)
                return unflatten(vector, layout)

            t_agg = best_time(agg_only, reps)
            t_full = best_time(lambda r=rule, fx=fixed, w=weights: r(fx, w), 1)
            cell[spec] = {"agg": round(t_agg / base, 2), "full": round(t_full / base, 2)}
        if (n, d) == (32, 10**6):
            cases = extra_cases(extras, F)
            vs = [np.concatenate([fx["bias"], fx["weight"]]).astype(np.float64) for fx in fixed]
            for name, (spec, fn) in cases.items():
                ours = build_rule(spec, F)(fixed, weights).delta
                ours_v = np.concatenate([ours["bias"], ours["weight"]]).astype(np.float64)
                try:
                    t = best_time(lambda fn=fn, vs=vs: fn(vs), 1)
                    theirs = np.asarray(fn(vs), dtype=np.float64).reshape(-1)
                except Exception as exc:  # noqa: BLE001 - optional extra
                    agreement[name] = {"error": f"{type(exc).__name__}: {exc}"}
                    continue
                agreement[name] = {
                    "ours": spec,
                    "max_abs_diff_lsb": round(float(np.abs(ours_v - theirs).max()), 2),
                    "ratio_vs_mean": round(t / base, 2),
                }
        results[f"n={n},d={d:.0e}"] = cell
        print(f"n={n} d={d:.0e}: " + json.dumps(cell), file=sys.stderr)
    key = "n=32,d=1e+06"
    targets = {}
    if key in results:
        c = results[key]
        targets = {
            "coordinate_rules_agg<=10x": max(c[s]["agg"] for s in COORDINATE) <= 10,
            "gram_rules_agg<=15x": max(c[s]["agg"] for s in GRAM) <= 15,
            "worst_coordinate_agg": max(c[s]["agg"] for s in COORDINATE),
            "worst_gram_agg": max(c[s]["agg"] for s in GRAM),
        }
    line = {
        "bench": "aggregation_speed",
        "f": F,
        "results": results,
        "targets_n32_d1e6": targets,
        "extras": agreement,
        "extras_missing": {k: v for k, v in extras.items() if k.endswith("_error")},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Aggregation speed", "", "Ratios: rule time / `np.mean` of the same float32",
             "inputs in the same run. `agg` = flatten + exact rule + unflatten; `full` adds",
             "contribution scores.", "", "```", json.dumps(line), "```", ""]  # fmt: skip
    head = list(results)
    lines.append("| rule | " + " | ".join(head) + " |")
    lines.append("|---" * (len(head) + 1) + "|")
    lines.append("| mean (s) | " + " | ".join(str(results[h]["mean_s"]) for h in head) + " |")
    for spec in RULES:
        row = [
            "n/a" if results[h][spec]["agg"] is None
            else f"{results[h][spec]['agg']} / {results[h][spec]['full']}"
            for h in head
        ]  # fmt: skip
        lines.append(f"| {spec} (agg / full) | " + " | ".join(row) + " |")
    if agreement:
        lines += ["", "Extras at n=32, d=1e6 (max |ours - theirs| in fixed-point units):", ""]
        lines.append("| library function | ours | max abs diff (LSB) | ratio vs mean |")
        lines.append("|---|---|---|---|")
        for name, a in agreement.items():
            if "error" in a:
                lines.append(f"| {name} | - | {a['error']} | - |")
            else:
                lines.append(
                    f"| {name} | {a['ours']} | {a['max_abs_diff_lsb']} | {a['ratio_vs_mean']} |"
                )
    suffix = "_quick" if args.quick else ""
    (out / f"aggregation_speed{suffix}.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(line))


if __name__ == "__main__":
    main()
