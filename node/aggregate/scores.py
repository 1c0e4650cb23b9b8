"""Deterministic integer contribution scores: how much each update helped this round.

    score_i = 0                                              if x_i is a near-duplicate
            = max(0, floor(2**16 * min(cos(P x_i, P c_i), cos(P x_i, P c'_i))) - 2**12),
    c_i = per coordinate, the sum of the values a trimmed mean (t per side) of the
          *others* keeps = S - clip(x_i, lo, hi)
    c'_i = n g - x_i, g the rule's output (only when the caller passes g)

where, per coordinate over all n inputs sorted, lo and hi are the values at ranks t and
n-1-t and S is the sum of ranks t..n-1-t (removing x_i from a sorted column shifts the
kept window by one unless x_i sits inside it, hence the clip). t is the rule's f (at
most (n-2)/2); with t = 0, c_i is the sum of the others. c_i never contains x_i, so no
input is credited for dragging a consensus towards itself, whatever the rule: with the
rule's own output alone (n g - x_i), a free-rider sitting where the geometric median
lands was scored against (n-1) copies of itself. The second cosine follows the robust
rule, which resists label flippers better than a trimmed mean does. P projects onto the orthogonal
complement of the span of the *reference* vectors: what was public before this round's
commit window closed (the previous round's global delta and, if the caller has them,
the previous round's verified updates). Without references P is the identity.

Exactness: lo, hi and S are order statistics and int64 sums of integers. For each i,
the Gram matrix of [refs.., x_i, c_i, g] is exact (``exact_dots``). Projecting out the
references is a Schur complement, computed by fraction-free (Bareiss) elimination on
Python ints: after eliminating the independent references, entry (a, b) equals
det(R) * <P a, P b> with det(R) > 0. With A_i = |P x_i|**2, C_i = <P x_i, P c_i> and
B_i = |P c_i|**2 so scaled,

    floor(2**16 * C_i / sqrt(A_i B_i)) = isqrt(floor((2**16 C_i)**2 / (A_i B_i)))  (C_i > 0).

Near-duplicate: some j with 64 * ||x_i - x_j||**2 < the median pairwise squared distance
(distance under 1/8 of the typical spread), which honest nodes training on their own data
never produce; all members of such a pair score 0. See docs/aggregation.md.
"""

from __future__ import annotations

from math import isqrt

import numpy as np

from node.aggregate.exact import exact_dots, sqdists_from_gram
from node.aggregate.rules import SORT_CHUNK, near_duplicate_groups

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
    x: np.ndarray,
    references: np.ndarray | None = None,
    trim: int = 0,
    aggregate: np.ndarray | None = None,
) -> tuple[int, ...]:
    """Integer score per row of ``x`` (n, d) int32.

    ``references`` (k, d): public directions to project out (zero rows are ignored);
    ``trim``: values dropped per side from the others' consensus (the rule's f);
    ``aggregate`` (d,): the rule's output g; if given, the score is the smaller of the
    cosines against the leave-one-out consensus and against n g - x_i.
    """
    return scores_and_duplicates(x, references, trim, aggregate)[0]


def trimmed_window(x: np.ndarray, trim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of x (n, d): the sorted values at ranks trim and n-1-trim, and the exact
    int64 sum of ranks trim .. n-1-trim."""
    n, d = x.shape
    lo, hi, total = (np.empty(d, dtype=np.int64) for _ in range(3))
    for start in range(0, d, SORT_CHUNK):
        block = np.ascontiguousarray(x[:, start : start + SORT_CHUNK].T)
        block.sort(axis=1)
        end = start + block.shape[0]
        lo[start:end] = block[:, trim]
        hi[start:end] = block[:, n - 1 - trim]
        total[start:end] = block[:, trim : n - trim].sum(axis=1, dtype=np.int64)
    return lo, hi, total


def scores_and_duplicates(
    x: np.ndarray,
    references: np.ndarray | None = None,
    trim: int = 0,
    aggregate: np.ndarray | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``contribution_scores`` and the sorted rows flagged as near-duplicates (which are
    paid nothing, not even by the example-count fallback)."""
    n = x.shape[0]
    refs = np.zeros((0, x.shape[1]), dtype=np.int64)
    if references is not None and references.size:
        refs = np.atleast_2d(references).astype(np.int64)
        refs = refs[np.any(refs != 0, axis=1)]
    k = refs.shape[0]
    dup = duplicates(exact_dots(x), list(range(n)))
    lo, hi, total = trimmed_window(x, max(0, min(trim, (n - 2) // 2)))
    ref_gram = [[int(v) for v in row] for row in exact_dots(refs)] if k else []
    extra = [] if aggregate is None else [np.asarray(aggregate, dtype=np.int64)]
    scores = []
    for i in range(n):
        if i in dup:
            scores.append(0)
            continue
        own = x[i].astype(np.int64)
        rows = np.stack([own, total - np.clip(own, lo, hi), *extra])  # x_i, c_i[, g]
        s = [[int(v) for v in row] for row in exact_dots(rows)]
        if k:
            cross = exact_dots(refs, rows)
            m = len(rows)
            gram = [[*ref_gram[a], *(int(cross[a, j]) for j in range(m))] for a in range(k)]
            gram += [[int(cross[a, j]) for a in range(k)] + s[j] for j in range(m)]
            s = project_out(gram, k)
        score = cosine_fixed(s[0][1], s[0][0], s[1][1])
        if extra:  # against c'_i = n g - x_i as well: <x, c'> = n s_xg - s_xx
            a, xg, gg = s[0][0], s[0][2], s[2][2]
            score = min(score, cosine_fixed(n * xg - a, a, n * n * gg - 2 * n * xg + a))
        scores.append(max(0, score - SCORE_MARGIN))
    return tuple(scores), tuple(sorted(dup))
