"""Deterministic integer contribution scores: how much each update helped this round.

score_i = 0 if update i is a near-duplicate of another update, else
          max(0, floor(2**16 * cos(P x_i, P g)) - 2**16/16)

where g is the robust aggregate and P projects out the *reference* direction (the
previous round's global delta, public to everyone; no projection without one). Every
quantity comes from one exact integer Gram matrix of [x_1..x_n, g, ref]:

    A_i = <x_i,x_i><r,r> - <x_i,r>**2          (= |P x_i|**2 * <r,r>)
    B   = <g,g><r,r> - <g,r>**2
    C_i = <x_i,g><r,r> - <x_i,r><g,r>
    floor(2**16 * C_i / sqrt(A_i B)) = isqrt(floor((2**16 C_i)**2 / (A_i B)))  for C_i > 0

so the score is an exact function of the inputs on every node. Near-duplicate: some j
with 64 * ||x_i - x_j||**2 < the median pairwise squared distance (distance under 1/8 of
the typical spread), which honest nodes training on their own data never produce.
See docs/aggregation.md for why this resists free-riding.
"""

from __future__ import annotations

from math import isqrt

import numpy as np

from node.aggregate.exact import exact_dots

SCORE_ONE = 1 << 16
SCORE_MARGIN = SCORE_ONE // 16
DUPLICATE_RATIO = 64


def duplicates(gram: np.ndarray, n: int) -> set[int]:
    """Rows 0..n-1 that have a near-duplicate among the others (exact test)."""
    diag = [int(gram[i, i]) for i in range(n)]
    d2 = {
        (i, j): diag[i] + diag[j] - 2 * int(gram[i, j]) for i in range(n) for j in range(i + 1, n)
    }
    if not d2:
        return set()
    median = sorted(d2.values())[len(d2) // 2]
    flagged: set[int] = set()
    for (i, j), v in d2.items():
        if DUPLICATE_RATIO * v < median:
            flagged.update((i, j))
    return flagged


def cosine_fixed(c: int, a: int, b: int) -> int:
    """floor(SCORE_ONE * c / sqrt(a * b)) clipped to [0, SCORE_ONE]; 0 if undefined."""
    if c <= 0 or a <= 0 or b <= 0:
        return 0
    return min(SCORE_ONE, isqrt((SCORE_ONE * c) ** 2 // (a * b)))


def contribution_scores(
    x: np.ndarray, aggregate: np.ndarray, reference: np.ndarray | None = None
) -> tuple[int, ...]:
    """Integer score per row of ``x`` (n, d) against the aggregate vector (d,)."""
    n = x.shape[0]
    ref = reference if reference is not None and np.any(reference) else None
    extra = [aggregate] if ref is None else [aggregate, ref]
    rows = np.concatenate([x.astype(np.int64), np.stack(extra).astype(np.int64)])
    gram = exact_dots(rows)
    g = n
    if ref is None:
        rr, gr = 1, 0
        xr = [0] * n
    else:
        r = n + 1
        rr, gr = int(gram[r, r]), int(gram[g, r])
        xr = [int(gram[i, r]) for i in range(n)]
    b = int(gram[g, g]) * rr - gr * gr
    dup = duplicates(gram, n)
    scores = []
    for i in range(n):
        if i in dup:
            scores.append(0)
            continue
        a = int(gram[i, i]) * rr - xr[i] * xr[i]
        c = int(gram[i, g]) * rr - xr[i] * gr
        scores.append(max(0, cosine_fixed(c, a, b) - SCORE_MARGIN))
    return tuple(scores)
