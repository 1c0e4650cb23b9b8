"""Robust aggregation rules as pure functions over an (n, d) int32 fixed-point matrix.

Conventions (shared by every function here):

* Rows are updates in canonical order (sorted by author); index order breaks every tie,
  so a crafted near-tie resolves the same way on every node.
* All arithmetic is exact integer arithmetic (see ``exact.py``); divisions round half up
  (``floor((a + b/2) / b)``) like ``fedavg``. No float result decides anything.
* Inputs are never modified. Final rules return ``(vector int64 (d,), selected)``;
  pre-aggregation steps return a new matrix plus, per output row, the input rows that
  influenced it.
* Robust rules are unweighted: claimed example counts are unverifiable, so an attacker
  could claim the cap; only ``fedavg`` uses weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isqrt

import numpy as np

from node.aggregate.exact import (
    exact_combine,
    exact_dots,
    exact_mean_of_groups,
    exact_sqnorms,
    round_div,
    sqdists_from_gram,
)

Selected = tuple[int, ...]
Influence = tuple[frozenset[int], ...]

WEISZFELD_ITERS = 8
WEISZFELD_WEIGHT_BITS = 20  # sum of Weiszfeld weights <= 2**20: float64 GEMM stays exact
CCLIP_ITERS = 3
CCLIP_BITS = 16  # clip factors in units of 2**-16
DUPLICATE_RATIO = 64  # near-duplicate: squared distance < median / 64 (distance < 1/8)


# --- coordinate-wise -----------------------------------------------------------------


def weighted_mean(x: np.ndarray, weights: Sequence[int]) -> np.ndarray:
    """sum(w_i x_i) / sum(w_i), rounded half up (exact)."""
    total = int(sum(int(w) for w in weights))
    return round_div(exact_combine([list(weights)], x)[0], total)


def mean(x: np.ndarray) -> np.ndarray:
    """Unweighted mean of the rows, rounded half up."""
    return round_div(x.sum(axis=0, dtype=np.int64), x.shape[0])


SORT_CHUNK = 1 << 14  # columns sorted at once (as contiguous rows of a transposed block)


def sorted_range_sum(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per column, the exact int64 sum of its sorted values at ranks lo .. hi-1.

    Sorting a block's transpose (each column contiguous) is several times faster than
    ``np.sort(x, axis=0)``, which walks every column with a stride of d.
    """
    out = np.empty(x.shape[1], dtype=np.int64)
    for start in range(0, x.shape[1], SORT_CHUNK):
        block = np.ascontiguousarray(x[:, start : start + SORT_CHUNK].T)
        block.sort(axis=1)
        out[start : start + SORT_CHUNK] = block[:, lo:hi].sum(axis=1, dtype=np.int64)
    return out


def coordinate_median(x: np.ndarray) -> np.ndarray:
    """Coordinate-wise median; for even n the mean of the two middle values (half up)."""
    n = x.shape[0]
    if n % 2:
        return sorted_range_sum(x, n // 2, n // 2 + 1)
    return (sorted_range_sum(x, n // 2 - 1, n // 2 + 1) + 1) >> 1


def trimmed_mean(x: np.ndarray, f: int) -> np.ndarray:
    """Coordinate-wise: drop the f smallest and f largest values, average the rest."""
    n = x.shape[0]
    if f == 0:
        return mean(x)
    return round_div(sorted_range_sum(x, f, n - f), n - 2 * f)


# --- distance based ------------------------------------------------------------------


def pairwise_sqdists(x: np.ndarray) -> np.ndarray:
    """Exact n x n squared distances from one Gram matrix (object array of ints)."""
    return sqdists_from_gram(exact_dots(x))


def krum_scores(dists: np.ndarray, f: int, rows: Sequence[int] | None = None) -> list[int]:
    """Krum score of each row in ``rows``: sum of its max(n-f-2, 1) smallest distances to
    the others (n = len(rows)). Krum's own precondition makes n-f-2 >= 1; Bulyan's last
    picks run on fewer rows, and scored against 0 neighbours every row would tie at 0 and
    the lowest index would win (Flower's Bulyan uses the same floor of 1)."""
    idx = list(range(dists.shape[0])) if rows is None else list(rows)
    keep = max(len(idx) - f - 2, 1)
    scores = []
    for i in idx:
        others = sorted(int(dists[i, j]) for j in idx if j != i)
        scores.append(sum(others[:keep]))
    return scores


def rank(scores: Sequence[int], rows: Sequence[int]) -> list[int]:
    """Rows ordered by (score, row index): deterministic, ties to the canonical order."""
    return [r for _, r in sorted(zip(scores, rows, strict=True))]


def krum(x: np.ndarray, f: int, dists: np.ndarray | None = None) -> tuple[np.ndarray, Selected]:
    d2 = pairwise_sqdists(x) if dists is None else dists
    best = rank(krum_scores(d2, f), range(x.shape[0]))[0]
    return x[best].astype(np.int64), (best,)


def multi_krum(
    x: np.ndarray, f: int, m: int | None = None, dists: np.ndarray | None = None
) -> tuple[np.ndarray, Selected]:
    """Mean of the m (default n - f) rows with the lowest Krum scores."""
    n = x.shape[0]
    d2 = pairwise_sqdists(x) if dists is None else dists
    chosen = sorted(rank(krum_scores(d2, f), range(n))[: (n - f if m is None else m)])
    return mean(x[chosen]), tuple(chosen)


def bulyan(x: np.ndarray, f: int, dists: np.ndarray | None = None) -> tuple[np.ndarray, Selected]:
    """Bulyan: pick theta = n-2f rows by repeated Krum (each pick scored over the rows
    still remaining, against max(remaining-f-2, 1) neighbours), then trimmed mean (f per
    side)."""
    n = x.shape[0]
    d2 = pairwise_sqdists(x) if dists is None else dists
    remaining = list(range(n))
    chosen: list[int] = []
    for _ in range(n - 2 * f):
        best = rank(krum_scores(d2, f, remaining), remaining)[0]
        chosen.append(best)
        remaining.remove(best)
    chosen.sort()
    return trimmed_mean(x[chosen], f), tuple(chosen)


def _sqdists_to(x: np.ndarray, sq: Sequence[int], z: np.ndarray) -> list[int]:
    """Exact ||x_i - z||**2 for every row, given the rows' squared norms."""
    dots = exact_dots(x, z[None, :])[:, 0]
    zz = int(exact_dots(z[None, :])[0, 0])
    return [int(sq[i]) - 2 * int(dots[i]) + zz for i in range(x.shape[0])]


def geometric_median(x: np.ndarray, iters: int = WEISZFELD_ITERS) -> tuple[np.ndarray, Selected]:
    """Smoothed Weiszfeld (RFA) from the coordinate-wise median, fixed iteration count.

    Each step: r_i = max(isqrt(||x_i - z||**2), nu) with nu = max(1, median(r) >> 8);
    beta_i = floor(2**20 * (1/r_i) / sum_j (1/r_j)) computed in Python ints;
    z = round(sum beta_i x_i / sum beta_i). Exact, so identical on every node.
    """
    n = x.shape[0]
    sq = exact_sqnorms(x)
    z = coordinate_median(x)
    one = 1 << 64
    for _ in range(iters):
        radii = [isqrt(max(v, 0)) for v in _sqdists_to(x, sq, z)]
        nu = max(1, sorted(radii)[n // 2] >> 8)
        inv = [one // max(r, nu) for r in radii]
        total = sum(inv)
        beta = [(v << WEISZFELD_WEIGHT_BITS) // total for v in inv]
        if sum(beta) == 0:
            break
        z = round_div(exact_combine([beta], x)[0], sum(beta))
    return z, tuple(range(n))


def centered_clipping(
    x: np.ndarray, f: int, iters: int = CCLIP_ITERS
) -> tuple[np.ndarray, Selected]:
    """Centered clipping from the coordinate-wise median with an adaptive radius.

    v <- v + (1/n) sum_i c_i (x_i - v), c_i = min(1, tau / ||x_i - v||) in units of
    2**-16 (floor), tau = the (n-f)-th smallest distance to v (recomputed every step): the
    f farthest rows are always clipped to the radius of the honest majority.
    """
    n = x.shape[0]
    sq = exact_sqnorms(x)
    v = coordinate_median(x)
    one = 1 << CCLIP_BITS
    for _ in range(iters):
        radii = [isqrt(max(s, 0)) for s in _sqdists_to(x, sq, v)]
        tau = sorted(radii)[n - f - 1]
        coef = [one if r <= tau else (tau << CCLIP_BITS) // r for r in radii]
        num = exact_combine([coef], x)[0] - sum(coef) * v
        v = v + round_div(num, n * one)
    return v, tuple(range(n))


# --- pre-aggregation -----------------------------------------------------------------


def nnm(x: np.ndarray, f: int, dists: np.ndarray | None = None) -> tuple[np.ndarray, Influence]:
    """Nearest-neighbour mixing: each row becomes the mean of its n-f nearest rows.

    Neighbours are ranked by (exact squared distance, index); a row is its own nearest.
    """
    n = x.shape[0]
    d2 = pairwise_sqdists(x) if dists is None else dists
    coef = np.zeros((n, n), dtype=np.int64)
    influence = []
    for i in range(n):
        near = rank([int(d2[i, j]) if j != i else -1 for j in range(n)], range(n))[: n - f]
        coef[i, near] = 1
        influence.append(frozenset(near))
    return exact_mean_of_groups(coef, x, n - f), tuple(influence)


def near_duplicate_groups(d2: np.ndarray, rows: Sequence[int] | None = None) -> list[list[int]]:
    """Positions (into ``rows``) grouped by the near-duplicate relation, transitively.

    i and j are near-duplicates when DUPLICATE_RATIO * ||x_i - x_j||**2 is below the median
    pairwise squared distance, i.e. they are 8 times closer than two typical inputs. Nodes
    training on their own data never are; copies (and colluders sending one vector) are.
    Groups are sorted lists, in order of their first member; singletons included.
    """
    idx = list(range(d2.shape[0])) if rows is None else list(rows)
    n = len(idx)
    pairs = {(i, j): int(d2[idx[i], idx[j]]) for i in range(n) for j in range(i + 1, n)}
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    if pairs:
        median = sorted(pairs.values())[len(pairs) // 2]
        for (i, j), v in pairs.items():
            if DUPLICATE_RATIO * v < median:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [groups[k] for k in sorted(groups)]


def dedup(x: np.ndarray, f: int) -> tuple[np.ndarray, Influence]:
    """One row per group of near-duplicates (its first, in canonical order).

    Copies carry no information of their own, but a rule like the geometric median gives
    k coincident inputs k times the pull. Colluders who spread their vectors apart to
    escape this lose that coincidence (the spread attacks in node/attacks try both).
    """
    groups = near_duplicate_groups(pairwise_sqdists(x))
    if len(groups) == x.shape[0]:
        return x, tuple(frozenset((i,)) for i in range(x.shape[0]))
    return x[[g[0] for g in groups]], tuple(frozenset(g) for g in groups)


def norm_clip(x: np.ndarray, f: int) -> tuple[np.ndarray, Influence]:
    """Scale every row whose norm exceeds tau down to tau; tau = the (n-f)-th smallest norm.

    Norms are floor(sqrt(exact squared norm)); scaling is y = round(x * c / 2**30) with
    c = floor(2**30 * tau / norm) <= 2**30, so |x * c| < 2**61 fits int64.
    """
    n = x.shape[0]
    norms = [isqrt(v) for v in exact_sqnorms(x)]
    tau = sorted(norms)[n - f - 1]
    out = x.copy()
    for i, r in enumerate(norms):
        if r > tau:
            c = (tau << 30) // r
            out[i] = ((x[i].astype(np.int64) * c + (1 << 29)) >> 30).astype(np.int32)
    return out, tuple(frozenset((i,)) for i in range(n))
