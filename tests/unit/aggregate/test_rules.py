"""Robust rules on small cases computed by hand, preconditions, and input immutability."""

import numpy as np
import pytest

from node.aggregate import (
    AggregationError,
    PreconditionError,
    build_rule,
    rule_names,
)
from node.aggregate import rules as R
from node.aggregate.exact import exact_combine, exact_dots, exact_mean_of_groups, exact_sqnorms
from node.aggregate.fedavg import fedavg
from node.aggregate.registry import STEPS
from node.errors import ConfigError


def col(*values: int) -> np.ndarray:
    """n x 1 int32 matrix."""
    return np.array(values, dtype=np.int32)[:, None]


def as_deltas(x: np.ndarray) -> list[dict[str, np.ndarray]]:
    return [{"w": row.copy()} for row in x.astype(np.int32)]


def test_median_odd_even_and_rounding_half_up() -> None:
    assert R.coordinate_median(col(1, 5, 3)).tolist() == [3]
    assert R.coordinate_median(col(1, 2)).tolist() == [2]  # 1.5 -> 2
    assert R.coordinate_median(col(-1, -2)).tolist() == [-1]  # -1.5 -> -1
    assert R.coordinate_median(col(7, -100, 8, 1000)).tolist() == [8]  # 7.5 -> 8


def test_trimmed_mean_drops_f_per_side() -> None:
    assert R.trimmed_mean(col(0, 10, 20, 1000), 1).tolist() == [15]
    assert R.trimmed_mean(col(-1000, 1, 2, 3, 1000), 1).tolist() == [2]
    assert R.trimmed_mean(col(1, 2), 0).tolist() == [2]  # plain mean, 1.5 -> 2


def test_krum_picks_lowest_score_and_breaks_ties_by_index() -> None:
    # scores (sum of the n-f-2 = 2 nearest squared distances): 5, 2, 2, 5, huge
    vec, sel = R.krum(col(0, 1, 2, 3, 100), 1)
    assert sel == (1,) and vec.tolist() == [1]
    vec, sel = R.multi_krum(col(0, 1, 2, 3, 100), 1)
    assert sel == (0, 1, 2, 3) and vec.tolist() == [2]  # 1.5 -> 2


def test_bulyan_hand_computed() -> None:
    # repeated Krum picks 2, 3, 1, 4, 0 (ties to the lower index); trimmed mean of 0..4
    vec, sel = R.bulyan(col(0, 1, 2, 3, 4, 5, 100), 1)
    assert sel == (0, 1, 2, 3, 4)
    assert vec.tolist() == [2]


def test_geometric_median_symmetric_and_robust() -> None:
    vec, _ = R.geometric_median(col(-10, 0, 10))
    assert vec.tolist() == [0]
    x = np.array([[0, 0], [100, 0], [0, 100], [100, 100], [10**7, 10**7]], dtype=np.int32)
    vec, _ = R.geometric_median(x)
    assert all(0 <= v <= 200 for v in vec.tolist())  # the far point barely pulls


def test_geometric_median_close_to_float_weiszfeld() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-(10**5), 10**5, size=(9, 40), dtype=np.int32)
    vec, _ = R.geometric_median(x, iters=50)
    z = np.median(x.astype(float), axis=0)
    for _ in range(500):
        w = 1 / np.maximum(np.linalg.norm(x - z, axis=1), 1e-9)
        z = (w[:, None] * x).sum(0) / w.sum()
    assert np.abs(vec - z).max() < 0.01 * np.abs(x).max()


def test_centered_clipping_without_outliers_is_the_mean() -> None:
    x = np.array([[0, 3], [2, 5], [4, -2], [7, 1]], dtype=np.int32)
    vec, _ = R.centered_clipping(x, 0)
    assert vec.tolist() == R.mean(x).tolist()


def test_centered_clipping_bounds_an_outlier() -> None:
    x = col(0, 1, 2, 3, 10**6)
    vec, _ = R.centered_clipping(x, 1)
    assert 0 <= vec[0] <= 4


def test_nnm_mixes_with_nearest_neighbours() -> None:
    mixed, influence = R.nnm(col(0, 1, 10), 1)
    assert mixed[:, 0].tolist() == [1, 1, 6]  # 0.5 -> 1, 1, 5.5 -> 6
    assert influence == (frozenset({0, 1}), frozenset({0, 1}), frozenset({1, 2}))


def test_norm_clip_scales_the_largest_to_the_n_minus_f_th_norm() -> None:
    x = np.array([[3, 0], [3, 4], [6, 8]], dtype=np.int32)
    out, _ = R.norm_clip(x, 1)
    assert out.tolist() == [[3, 0], [3, 4], [3, 4]]
    assert x.tolist() == [[3, 0], [3, 4], [6, 8]]


def test_fedavg_rule_is_byte_identical_to_fedavg() -> None:
    rng = np.random.default_rng(4)
    deltas = [
        {"a": rng.integers(-(2**20), 2**20, (3, 4), dtype=np.int32), "b": rng.integers(-9, 9, 5)}
        for _ in range(5)
    ]
    deltas = [{k: v.astype(np.int32) for k, v in d.items()} for d in deltas]
    weights = [3, 1, 4, 1, 5]
    ours = build_rule("fedavg", 0)(deltas, weights).delta
    theirs = fedavg(deltas, weights)
    assert all(ours[k].tobytes() == theirs[k].tobytes() for k in theirs)


def test_composition_tracks_influence() -> None:
    res = build_rule("nnm+krum", 1)(as_deltas(col(0, 1, 2, 3, 100)), [1] * 5)
    assert res.delta["w"].dtype == np.int32
    assert len(res.selected) == 4 and 4 not in res.selected  # Krum row mixes 4 honest rows


def test_exact_dots_matches_python_ints_on_the_limb_path() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-(2**31), 2**31 - 1, size=(4, 7), dtype=np.int64).astype(np.int32)
    b = rng.integers(-(2**24), 2**24, size=(3, 7), dtype=np.int32)
    want = [[sum(int(p) * int(q) for p, q in zip(ra, rb, strict=True)) for rb in b] for ra in a]
    assert exact_dots(a, b).tolist() == want
    gram = [[sum(int(p) * int(q) for p, q in zip(ra, rb, strict=True)) for rb in a] for ra in a]
    assert exact_dots(a).tolist() == gram
    assert exact_sqnorms(a) == [gram[i][i] for i in range(4)]


def test_exact_combine_fast_and_int64_paths() -> None:
    x = np.array([[2**24, -3], [5, 2**24]], dtype=np.int32)
    assert exact_combine([[1, 2]], x).tolist() == [[2**24 + 10, -3 + 2**25]]
    big = 2**30  # bound >= 2**53: int64 accumulation path
    assert exact_combine([[big, big]], x).tolist() == [[big * (2**24 + 5), big * (2**24 - 3)]]


@pytest.mark.parametrize("scale", [2**10, 2**24, 2**31 - 1])
def test_exact_mean_of_groups_equals_the_int64_reference(scale: int) -> None:
    rng = np.random.default_rng(scale)
    x = rng.integers(-scale, scale, size=(9, 70_001), endpoint=True).astype(np.int32)
    x[0, :5] = [scale, -scale, scale - 1, 0, -1]
    for den in (1, 2, 7, 9):  # each output row: the mean of ``den`` input rows
        coef = np.zeros((9, 9), dtype=np.int64)
        for i in range(9):
            coef[i, [0, *rng.permutation(np.arange(1, 9))[: den - 1]]] = 1  # incl. row 0
        want = (exact_combine(coef, x) + den // 2) // den
        got = exact_mean_of_groups(coef, x, den)
        assert got.dtype == np.int32 and np.array_equal(got, want)
    # exact halves round up, on both signs
    halves = np.array([[1, -1, 3, -3]], dtype=np.int32)
    assert exact_mean_of_groups(np.array([[1]]), halves, 2).tolist() == [[1, 0, 2, -1]]


@pytest.mark.parametrize(
    ("spec", "f", "n"),
    [("krum", 1, 4), ("multi_krum", 2, 6), ("bulyan", 1, 6), ("median", 2, 4), ("nnm+mean", 3, 6)],
)
def test_preconditions_raise_clear_value_errors(spec: str, f: int, n: int) -> None:
    rule = build_rule(spec, f)
    assert rule.min_inputs == n + 1
    with pytest.raises(PreconditionError, match=r"needs n >= .* got n = "):
        rule(as_deltas(col(*range(n))), [1] * n)
    assert issubclass(PreconditionError, ValueError)


def test_bad_specs_raise_config_errors() -> None:
    for spec, f in [("nope", 1), ("trimmed_mean+nnm", 1), ("nnm", 1), ("krum", -1), ("", 0)]:
        with pytest.raises(ConfigError):
            build_rule(spec, f)
    assert build_rule("NNM + TrMean", 2).spec == "nnm+trimmed_mean"


def test_bad_inputs_raise_aggregation_errors() -> None:
    rule = build_rule("median", 0)
    with pytest.raises(AggregationError):
        rule([], [])
    with pytest.raises(AggregationError):
        rule([{"w": np.zeros(2, np.int32)}, {"w": np.zeros(3, np.int32)}], [1, 1])
    with pytest.raises(AggregationError):
        rule([{"w": np.zeros(2, np.float32)}], [1])
    with pytest.raises(AggregationError):
        rule([{"w": np.zeros(2, np.int32)}], [0])


FINAL_RULES = [name for name in rule_names() if name not in STEPS]


@pytest.mark.parametrize(
    "spec", [*FINAL_RULES, "nnm+trimmed_mean", "clip+multi_krum", "dedup+geometric_median"]
)
def test_rules_never_mutate_inputs(spec: str) -> None:
    rng = np.random.default_rng(6)
    deltas = [
        {
            "a": rng.integers(-(2**20), 2**20, (4, 3), dtype=np.int32),
            "b": np.arange(3, dtype=np.int32),
        }
        for _ in range(11)
    ]
    copies = [{k: v.copy() for k, v in d.items()} for d in deltas]
    ref = {"a": np.ones((4, 3), np.int32), "b": np.ones(3, np.int32)}
    res = build_rule(spec, 2)(deltas, list(range(1, 12)), ref)
    for d, c in zip(deltas, copies, strict=True):
        assert all(np.array_equal(d[k], c[k]) and d[k].dtype == c[k].dtype for k in d)
    assert set(res.delta) == {"a", "b"} and all(v.dtype == np.int32 for v in res.delta.values())
    assert len(res.scores) == 11 and all(isinstance(s, int) and s >= 0 for s in res.scores)


def _spread_rows(rng: np.random.Generator, n: int, d: int = 50) -> np.ndarray:
    return np.rint(rng.normal(0, 1000, (n, d))).astype(np.int32)


def test_dedup_keeps_one_row_per_group_of_near_duplicates() -> None:
    rng = np.random.default_rng(8)
    x = _spread_rows(rng, 6)
    copies = np.vstack([x[2] + 1, x[2] - 1, x[4] + 2])  # two of row 2, one of row 4
    rows = np.vstack([x, copies]).astype(np.int32)
    before = rows.copy()
    out, influence = R.dedup(rows, 1)
    assert out.tolist() == x.tolist()
    assert influence[2] == frozenset({2, 6, 7}) and influence[4] == frozenset({4, 8})
    assert np.array_equal(rows, before)
    same, alone = R.dedup(x, 1)
    assert np.array_equal(same, x) and alone == tuple(frozenset((i,)) for i in range(6))


def test_dedup_removes_the_pull_of_coincident_copies_on_the_geometric_median() -> None:
    rng = np.random.default_rng(9)
    honest = _spread_rows(rng, 8)
    lure = np.full(50, 5000, dtype=np.int32)
    one = np.vstack([lure, honest])
    three = np.vstack([lure, lure + 1, lure - 1, honest])
    deduped = build_rule("dedup+geometric_median", 3)(as_deltas(three), [1] * 11).delta["w"]
    single = build_rule("geometric_median", 3)(as_deltas(one), [1] * 9).delta["w"]
    pulled = build_rule("geometric_median", 3)(as_deltas(three), [1] * 11).delta["w"]
    assert np.array_equal(deduped, single)
    assert np.linalg.norm(pulled - lure) < np.linalg.norm(deduped - lure)


def test_dedup_lowers_f_when_merged_copies_leave_too_few_rows() -> None:
    x = _spread_rows(np.random.default_rng(10), 3)
    rows = np.vstack([x, x[0] + 1, x[0] - 1])  # n = 5 = 2f+1 for f = 2; 3 distinct rows
    res = build_rule("dedup+trimmed_mean", 2)(as_deltas(rows), [1] * 5)
    assert res.delta["w"].tolist() == R.coordinate_median(x).tolist()  # trimmed f = 1 of 3
    assert res.selected == (0, 1, 2, 3, 4)


def flower_bulyan_selection(x: np.ndarray, f: int) -> tuple[int, ...]:
    """Bulyan's selection phase as Flower writes it (``aggregate_bulyan`` with Krum):
    repeatedly take the input with the least sum of squared distances to its
    max(1, n_remaining - f - 2) nearest remaining inputs. Float64 is exact here."""
    xf = x.astype(np.float64)
    remaining = list(range(x.shape[0]))
    chosen = []
    while len(chosen) < x.shape[0] - 2 * f:
        sub = xf[remaining]
        d2 = ((sub[:, None, :] - sub[None, :, :]) ** 2).sum(axis=2)
        k = max(1, len(remaining) - f - 2)
        scores = [np.sort(np.delete(d2[i], i))[:k].sum() for i in range(len(remaining))]
        chosen.append(remaining.pop(int(np.argmin(scores))))
    return tuple(sorted(chosen))


@pytest.mark.parametrize("seed", range(24))
def test_bulyan_selection_matches_flower_for_f_1(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-1000, 1000, size=(int(rng.integers(5, 10)), 4), dtype=np.int32)
    assert R.bulyan(x, 1)[1] == flower_bulyan_selection(x, 1)


def test_bulyan_last_pick_is_scored_against_a_neighbour() -> None:
    # The last pick is among the outlier (lowest index), 1 and 6. Scored against 0
    # neighbours all three scored 0 and the lowest index, the outlier, won.
    _, sel = R.bulyan(col(1000, 1, 2, 3, 4, 5, 6), 1)
    assert sel == (1, 2, 3, 4, 5)


def test_after_invalid_lowers_f_never_below_zero() -> None:
    rule = build_rule("nnm+bulyan", 2)
    assert rule.min_inputs == 11
    assert [rule.after_invalid(k).f for k in range(4)] == [2, 1, 0, 0]
    assert rule.after_invalid(2).min_inputs == 3 and rule.after_invalid(2).spec == rule.spec
    assert rule.f == 2  # frozen: a new rule each time
    with pytest.raises(ValueError, match=">= 0"):
        rule.after_invalid(-1)
    with pytest.raises(ConfigError):
        rule.with_f(-1)
