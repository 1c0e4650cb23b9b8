"""FedNova's exact normalisation by local step counts, alone and under the robust rules."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from node.aggregate import build_rule, fednova
from node.aggregate.vectors import AggregationError


def _deltas(n: int, d: int = 50, seed: int = 0, scale: int = 5000) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {"a": rng.integers(-scale, scale, size=(d,), dtype=np.int32),
         "b": rng.integers(-scale, scale, size=(2, 3), dtype=np.int32)}
        for _ in range(n)
    ]  # fmt: skip


def test_each_element_is_the_exactly_rounded_rescaled_value() -> None:
    deltas = _deltas(4)
    steps, weights = [3, 17, 40, 9], [30, 170, 310, 77]
    out = fednova.normalise(deltas, steps, weights)
    tau_eff = Fraction(sum(w * t for w, t in zip(weights, steps, strict=True)), sum(weights))
    for delta, tau, got in zip(deltas, steps, out, strict=True):
        for name in delta:
            for v, g in zip(delta[name].ravel().tolist(), got[name].ravel().tolist(), strict=True):
                x = Fraction(v) * tau_eff / tau
                assert g == (x + Fraction(1, 2)).__floor__()
            assert got[name].dtype == np.int32 and got[name].shape == delta[name].shape


def test_equal_steps_change_nothing() -> None:
    deltas = _deltas(3)
    out = fednova.normalise(deltas, [8, 8, 8], [5, 50, 500])
    assert all(np.array_equal(o[k], d[k]) for o, d in zip(out, deltas, strict=True) for k in d)


def test_fedavg_with_fednova_is_tau_eff_times_the_mean_per_step_update() -> None:
    deltas = _deltas(5, seed=1)
    steps, weights = [2, 5, 11, 23, 4], [20, 50, 110, 230, 40]
    rule = build_rule("fedavg", 0)
    got = rule(fednova.normalise(deltas, steps, weights), weights).delta
    total = sum(weights)
    tau_eff = sum(w * t for w, t in zip(weights, steps, strict=True)) / total
    for name in got:
        exact = tau_eff * sum(
            w / total * d[name].astype(np.float64) / t
            for d, t, w in zip(deltas, steps, weights, strict=True)
        )
        assert np.max(np.abs(got[name] - exact)) <= 1.0


@pytest.mark.parametrize("spec,f", [("fedavg", 0), ("median", 1), ("dedup+geometric_median", 1),
                                    ("trimmed_mean", 1), ("multi_krum", 1)])  # fmt: skip
def test_same_bytes_in_any_input_order(spec: str, f: int) -> None:
    deltas, steps, weights = _deltas(6, seed=2), [4, 9, 1, 30, 12, 6], [40, 90, 12, 300, 120, 60]
    rule = build_rule(spec, f)
    got = rule(fednova.normalise(deltas, steps, weights), weights).delta
    order = list(range(6))
    random.Random(3).shuffle(order)
    again = rule(
        fednova.normalise([deltas[i] for i in order], [steps[i] for i in order],
                          [weights[i] for i in order]),
        [weights[i] for i in order],
    ).delta  # fmt: skip
    if spec in ("fedavg", "median", "trimmed_mean"):  # order-free rules: identical bytes
        assert all(np.array_equal(got[k], again[k]) for k in got)
    else:  # order-sensitive rules: each node feeds the canonical order; rerun it
        rerun = rule(fednova.normalise(deltas, steps, weights), weights).delta
        assert all(np.array_equal(got[k], rerun[k]) for k in got)


def test_updates_that_differ_only_by_their_step_count_become_one_under_a_robust_rule() -> None:
    g = np.arange(-300, 300, 6, dtype=np.int32) * 64
    steps = [1, 2, 4, 8, 16]
    deltas = [{"w": (g * t).astype(np.int32)} for t in steps]
    weights = [100] * 5
    out = fednova.normalise(deltas, steps, weights)
    assert all(np.array_equal(o["w"], out[0]["w"]) for o in out)  # every row = tau_eff * g
    median = build_rule("median", 1)(out, weights).delta["w"]
    assert median.tolist() == ((g.astype(np.int64) * 31 + 2) // 5).tolist()  # tau_eff = 31/5


def test_claimed_step_counts_are_clamped_around_the_median() -> None:
    assert fednova.clamp_steps([10, 12, 0, 11]) == [10, 12, 11, 11]  # missing: the median
    assert fednova.clamp_steps([100, 100, 1, 10**6]) == [100, 100, 6, 1600]
    assert fednova.clamp_steps([0, 0]) == [1, 1]  # nobody gave one: the plain rule
    with pytest.raises(AggregationError):
        fednova.clamp_steps([3, -1])


def test_a_liar_claiming_one_step_gains_at_most_the_spread() -> None:
    honest = [{"w": np.full(4, 1000, dtype=np.int32)} for _ in range(4)]
    liar = {"w": np.full(4, 1000, dtype=np.int32)}
    out = fednova.normalise([*honest, liar], [64, 64, 64, 64, 1], [10] * 5)
    assert int(out[-1]["w"][0]) <= fednova.STEP_SPREAD * int(out[0]["w"][0])


def test_huge_factors_saturate_without_overflow() -> None:
    delta = {"w": np.array([2**31 - 1, -(2**31), 1, 0], dtype=np.int32)}
    out = fednova.rescale(delta, Fraction(2**33 + 1, 2**32))  # beyond int64: Python ints
    assert out["w"].tolist() == [2**31 - 1, -(2**31), 2, 0]
    with pytest.raises(AggregationError):
        fednova.rescale(delta, Fraction(0))


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(AggregationError):
        fednova.normalise(_deltas(2), [1], [1, 1])
    with pytest.raises(AggregationError):
        fednova.normalise(_deltas(2), [1, 2], [1, 0])
