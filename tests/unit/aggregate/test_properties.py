"""Property tests: canonical order, thread count and idempotence never change the bytes."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from node.aggregate import build_rule

SPECS = [
    "fedavg",
    "median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
    "centered_clipping",
    "bulyan",
    "nnm+trimmed_mean",
    "clip+krum",
]
SYMMETRIC = ["fedavg", "median", "trimmed_mean", "mean"]
F = 1
N = 7  # >= 4f+3: every rule's precondition holds

settings.register_profile(
    "fedchain", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("fedchain")


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[dict[str, np.ndarray]], list[int], list[int]]:
    """(deltas, weights, author keys): near-ties made likely by small value ranges."""
    width = draw(st.integers(1, 6))
    span = draw(st.sampled_from([2, 50, 2**24]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    base = rng.integers(-span, span + 1, size=(N, width + 2))
    if draw(st.booleans()):  # exact duplicates and ties
        base[1] = base[0]
    deltas = [{"w": row[:width].reshape(width).astype(np.int32), "b": row[width:].astype(np.int32)}
              for row in base]  # fmt: skip
    weights = [int(w) for w in rng.integers(1, 1000, size=N)]
    authors = [int(a) for a in rng.permutation(10_000)[:N]]
    return deltas, weights, authors


def _bytes(result) -> bytes:
    return b"".join(result.delta[k].tobytes() for k in sorted(result.delta))


@given(rounds(), st.permutations(range(N)))
def test_canonical_order_makes_arrival_order_irrelevant(case, perm) -> None:
    deltas, weights, authors = case
    for spec in SPECS:
        rule = build_rule(spec, F)

        def canonical(order, rule=rule):
            order = sorted(order, key=lambda i: authors[i])
            return rule([deltas[i] for i in order], [weights[i] for i in order])

        a, b = canonical(range(N)), canonical(perm)
        assert _bytes(a) == _bytes(b) and a.selected == b.selected and a.scores == b.scores


@given(rounds(), st.permutations(range(N)))
def test_symmetric_rules_ignore_order_entirely(case, perm) -> None:
    deltas, weights, _ = case
    for spec in SYMMETRIC:
        rule = build_rule(spec, F)
        a = rule(deltas, weights)
        b = rule([deltas[i] for i in perm], [weights[i] for i in perm])
        assert _bytes(a) == _bytes(b)


@given(rounds())
def test_idempotent_on_identical_inputs(case) -> None:
    deltas, _, _ = case
    same = [deltas[0]] * N
    for spec in SPECS:
        result = build_rule(spec, F)(same, [1] * N)
        assert _bytes(result) == b"".join(same[0][k].tobytes() for k in sorted(same[0]))


def test_thread_count_does_not_change_bytes() -> None:
    rng = np.random.default_rng(11)
    d = (1 << 15) + 37  # two float64 GEMM blocks
    deltas = [
        {"w": rng.integers(-(2**24), 2**24, size=d, dtype=np.int32)} for _ in range(N)
    ]  # large values: exercises the limb-split path
    small = [{"w": (v["w"] >> 12).astype(np.int32)} for v in deltas]  # single-GEMM path
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            results[threads] = [
                (_bytes(r), r.selected, r.scores)
                for spec in SPECS
                for inputs in (deltas, small)
                for r in [build_rule(spec, F)(inputs, [1] * N, inputs[0])]
            ]
    torch.set_num_threads(1)
    assert results[1] == results[2]
