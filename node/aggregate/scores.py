"""Deterministic integer contribution scores: how much each update helped this round.

    score_i = 0                                              if x_i is a near-duplicate
            = max(0, floor(2**16 * cos(P x_i, P c_i)) - 2**12)   otherwise,
    c_i = n g - x_i

g is the robust aggregate and c_i the consensus of the *others* (n g - x_i is (n-1) times
the leave-one-out mean when g is the mean; for robust rules it removes at least i's own
pull on g, so no input is credited for dragging the aggregate towards itself). P
projects onto the orthogonal complement of the span of the *reference* vectors: what was
public before this round's commit window closed (the previous round's global delta and,
if the caller has them, the previous round's verified updates). Without references P is
the identity.

Exactness: every quantity comes from one exact integer Gram matrix of
[refs.., x_1..x_n, g] (``exact_dots``). Projecting out the references is a Schur
complement, computed by fraction-free (Bareiss) elimination on Python ints: after
eliminating the independent references, entry (a, b) equals det(R) * <P a, P b> with
det(R) > 0. With s_ab those entries, A_i = s_ii, C_i = n s_ig - s_ii (= <P x_i, P c_i>
scaled), B_i = n**2 s_gg - 2 n s_ig + s_ii (= |P c_i|**2 scaled), and

    floor(2**16 * C_i / sqrt(A_i B_i)) = isqrt(floor((2**16 C_i)**2 / (A_i B_i)))  (C_i > 0).

Near-duplicate: some j with 64 * ||x_i - x_j||**2 < the median pairwise squared distance
(distance under 1/8 of the typical spread), which honest nodes training on their own data
never produce; all members of such a pair score 0. See docs/aggregation.md.
"""

from __future__ import annotations

from math import isqrt

import numpy as np

from node.aggregate.exact import exact_dots, sqdists_from_gram
from node.aggregate.rules import near_duplicate_groups

SCORE_ONE = 1 << 16
SCORE_MARGIN = SCORE_ONE // 16


def duplicates(gram: np.ndarray, rows: list[int]) -> set[int]:
    """Positions (into ``rows``) having a near-duplicate among the others (exact test)."""
    groups = near_duplicate_groups(sqdists_from_gram(gram), rows)
    return {i for g in groups if len(g) > 1 for i in g}


def cosine_fixed(c: int, a: int, b: int) -> int:
    """floor(SCORE_ONE * c / sqrt(a * b)) clipped to [0, SCORE_ONE]; 0 if undefined."""
    if c <= 0 or a <= 0 or b <= 0:
        return 0
    return min(SCORE_ONE, isqrt((SCORE_ONE * c) ** 2 // (a * b)))


def project_out(gram: list[list[int]], k: int) -> list[list[int]]:
    """Eliminate the first k rows/cols (references) of an integer PSD Gram matrix.

    Fraction-free symmetric Bareiss elimination, skipping references that are linearly
    dependent on earlier ones (zero pivot: for a PSD matrix its whole row is then zero).
    Returns the trailing block, scaled by the positive determinant of the independent
    references' Gram matrix (so signs and ratios are those of the projected vectors).
    """
    m = [row[:] for row in gram]
    size = len(m)
    prev = 1
    for j in range(k):
        p = m[j][j]
        if p == 0:
            continue
        for a in range(j + 1, size):
            maj = m[a][j]
            row_a = m[a]
            row_j = m[j]
            for b in range(a, size):
                v = (p * row_a[b] - maj * row_j[b]) // prev
                row_a[b] = v
                m[b][a] = v
        prev = p
    return [row[k:] for row in m[k:]]


def contribution_scores(
    x: np.ndarray, aggregate: np.ndarray, references: np.ndarray | None = None
) -> tuple[int, ...]:
    """Integer score per row of ``x`` (n, d) against the aggregate (d,).

    ``references`` (k, d): public directions to project out (zero rows are ignored).
    """
    return scores_and_duplicates(x, aggregate, references)[0]


def scores_and_duplicates(
    x: np.ndarray, aggregate: np.ndarray, references: np.ndarray | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``contribution_scores`` and the sorted rows flagged as near-duplicates (which are
    paid nothing, not even by the example-count fallback)."""
    n = x.shape[0]
    refs = np.zeros((0, x.shape[1]), dtype=np.int64)
    if references is not None and references.size:
        refs = np.atleast_2d(references).astype(np.int64)
        refs = refs[np.any(refs != 0, axis=1)]
    k = refs.shape[0]
    rows = np.concatenate([refs, x.astype(np.int64), aggregate[None, :].astype(np.int64)])
    gram = exact_dots(rows)
    dup = duplicates(gram, list(range(k, k + n)))
    full = [[int(v) for v in row] for row in gram]
    s = project_out(full, k) if k else full[k:]
    g = n
    sgg = s[g][g]
    scores = []
    for i in range(n):
        if i in dup:
            scores.append(0)
            continue
        # against the others' consensus: c_i = n g - x_i (removes i's own pull on g)
        a, xg = s[i][i], s[i][g]
        c = n * xg - a
        b = n * n * sgg - 2 * n * xg + a
        scores.append(max(0, cosine_fixed(c, a, b) - SCORE_MARGIN))
    return tuple(scores), tuple(sorted(dup))
