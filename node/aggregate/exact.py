"""Exact integer linear algebra on fixed-point matrices, fast enough for d = 1e6.

Every result here is an exact integer, identical on every machine, thread count and
BLAS. The trick: float64 represents every integer below 2**53 exactly, so a float64
GEMM over integer-valued inputs is *exact in any summation order* as long as the sum of
the absolute values of all products in one output entry stays below 2**53 (then every
partial sum, whatever order BLAS picks, is an integer below 2**53, and FMA or pairwise
blocking cannot round). Each function checks that bound from the exact maxima of its
inputs before using BLAS:

* ``exact_dots(A, B)`` (A @ B.T): if ``d * max|A| * max|B| < 2**53`` one chunked float64
  GEMM; otherwise each operand is split into high and low limbs (``x = hi * 2**k + lo``)
  and the four limb products are computed recursively and recombined in Python ints.
  For verified deltas (|x| <= 2**24) and d = 1e6 the limbs have at most 13 bits, so one
  level of splitting always suffices; typical honest deltas need none.
* ``exact_combine(C, X)`` (C @ X with small integer coefficients): float64 GEMM when
  ``max_row sum|C| * max|X| < 2**53``, else an int64 accumulation loop (checked below
  2**63), else ``OverflowError``.

Results of ``exact_dots`` are numpy object arrays of Python ints (they may exceed int64:
d * (2**25)**2 does for d = 1e6); they are n x n with n <= a few hundred, so this is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache

import numpy as np

try:  # ships with scikit-learn
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None

F64_EXACT = 1 << 53
I64_SAFE = 1 << 62
CHUNK = 1 << 15  # columns per float64 block: bounded memory, cache-friendly
MIX_CHUNK = 1 << 12  # exact_mean_of_groups: n rows of this stay in cache


def max_abs(x: np.ndarray) -> int:
    """Exact max |x| as a Python int (0 for an empty array)."""
    if x.size == 0:
        return 0
    return max(abs(int(x.max())), abs(int(x.min())))


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the (thin, memory-bound) GEMMs on one BLAS thread.

    Only a speed choice (results are exact for any thread count): multi-threaded OpenBLAS
    spin-waits and slows down by 10-100x on an oversubscribed machine.
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


@cache
def _blas_controller() -> ThreadpoolController | None:
    """One controller per process: building one scans every loaded library (most of the
    time of a small exact_dots call when done per call)."""
    return None if ThreadpoolController is None else ThreadpoolController()


def _gemm_f64_exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T for integer arrays whose bound was checked by the caller; int64 result."""
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.float64)
    same = a is b
    with single_threaded_blas():
        for start in range(0, a.shape[1], CHUNK):
            ca = a[:, start : start + CHUNK].astype(np.float64)
            cb = ca if same else b[:, start : start + CHUNK].astype(np.float64)
            out += ca @ cb.T
    return out.astype(np.int64)


def exact_dots(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Exact ``a @ b.T`` (b defaults to a: the Gram matrix) as an object array of ints.

    ``a`` is (m, d), ``b`` is (k, d), both integer typed. Never overflows, never rounds.
    """
    same = b is None
    b_ = a if b is None else b
    if a.shape[1] != b_.shape[1]:
        raise ValueError("exact_dots: operands have different widths")
    d = a.shape[1]
    ma, mb = max_abs(a), max_abs(b_)
    if d == 0 or ma == 0 or mb == 0:
        return np.zeros((a.shape[0], b_.shape[0]), dtype=np.int64).astype(object)
    if d * ma * mb < F64_EXACT:
        return _gemm_f64_exact(a, a if same else b_).astype(object)
    # Split both operands into limbs of k bits: x = hi * 2**k + lo, 0 <= lo < 2**k.
    k = (max(ma, mb).bit_length() + 1) // 2
    mask = (1 << k) - 1
    a64 = a.astype(np.int64)
    a_hi, a_lo = a64 >> k, a64 & mask
    if same:
        b_hi, b_lo = a_hi, a_lo
    else:
        b64 = b_.astype(np.int64)
        b_hi, b_lo = b64 >> k, b64 & mask
    hh = exact_dots(a_hi, None if same else b_hi)
    ll = exact_dots(a_lo, None if same else b_lo)
    hl = exact_dots(a_hi, b_lo)
    lh = hl.T if same else exact_dots(a_lo, b_hi)
    return (hh << (2 * k)) + ((hl + lh) << k) + ll


def exact_sqnorms(a: np.ndarray) -> list[int]:
    """Exact squared L2 norm of each row of an integer matrix."""
    m = max_abs(a)
    if a.shape[1] * m * m < F64_EXACT:
        acc = np.zeros(a.shape[0], dtype=np.float64)
        for start in range(0, a.shape[1], CHUNK):
            block = a[:, start : start + CHUNK].astype(np.float64)
            acc += np.einsum("ij,ij->i", block, block)
        return [int(v) for v in acc.astype(np.int64)]
    return [int(exact_dots(row[None, :])[0, 0]) for row in a]


def sqdists_from_gram(gram: np.ndarray) -> np.ndarray:
    """Exact squared distances ||x_i - x_j||**2 = G_ii + G_jj - 2 G_ij (object array)."""
    diag = np.array([gram[i, i] for i in range(gram.shape[0])], dtype=object)
    return diag[:, None] + diag[None, :] - 2 * gram


def exact_combine(coef: Sequence[Sequence[int]] | np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exact ``coef @ x`` for a small integer coefficient matrix (k, n) and x (n, d): int64."""
    c = np.array(coef, dtype=object)
    if c.ndim != 2 or c.shape[1] != x.shape[0]:
        raise ValueError("exact_combine: shape mismatch")
    row_sums = [sum(abs(int(v)) for v in row) for row in c]
    bound = max(row_sums, default=0) * max_abs(x)
    k, d = c.shape[0], x.shape[1]
    if bound < F64_EXACT:
        cf = c.astype(np.float64)
        out = np.empty((k, d), dtype=np.int64)
        with single_threaded_blas():
            for start in range(0, d, CHUNK):
                block = x[:, start : start + CHUNK].astype(np.float64)
                out[:, start : start + CHUNK] = (cf @ block).astype(np.int64)
        return out
    if bound < I64_SAFE:
        out = np.zeros((k, d), dtype=np.int64)
        for r in range(k):
            for j in range(x.shape[0]):
                w = int(c[r, j])
                if w:
                    out[r] += x[j].astype(np.int64) * w
        return out
    raise OverflowError("exact_combine: coefficients too large for exact int64 arithmetic")


def exact_mean_of_groups(coef: np.ndarray, x: np.ndarray, den: int) -> np.ndarray:
    """``round_div(coef @ x, den)`` as int32 (k, d) for a 0/1 ``coef`` (k, n): the
    rounded mean of each group of rows (nearest-neighbour mixing).

    Same result as ``round_div(exact_combine(coef, x), den)``, computed per block of
    columns in float64 without a (k, d) int64 intermediate. A group larger than half the
    rows is the block's total minus the rows left out (NNM leaves out only f), which is
    far cheaper than a k x n GEMM. Every partial sum is an integer below 2**52, so it is
    exact, and so is ``floor((s + den//2) / den)``: a quotient of integers that is not an
    integer lies at least 1/den from the next integer, more than half an ulp of any
    float64 below 2**52 / den, so rounding cannot cross it.
    """
    c = np.asarray(coef, dtype=np.int64)
    if den <= 0:
        raise ValueError("exact_mean_of_groups: denominator must be positive")
    n = x.shape[0]
    if c.ndim != 2 or c.shape[1] != n or not np.isin(c, (0, 1)).all():
        raise ValueError("exact_mean_of_groups: coef must be a 0/1 matrix with n columns")
    if n * max_abs(x) + den >= F64_EXACT // 2:
        return round_div(exact_combine(c, x), den).astype(np.int32)
    groups = []
    for row in c.astype(bool):
        members, left_out = np.flatnonzero(row), np.flatnonzero(~row)
        groups.append((False, members) if len(members) <= len(left_out) else (True, left_out))
    out = np.empty((c.shape[0], x.shape[1]), dtype=np.int32)
    half = float(den // 2)
    for start in range(0, x.shape[1], MIX_CHUNK):
        block = x[:, start : start + MIX_CHUNK].astype(np.float64)
        total = block.sum(axis=0)
        sums = np.empty((c.shape[0], block.shape[1]), dtype=np.float64)
        for i, (complement, rows) in enumerate(groups):
            s = sums[i]
            s[:] = total if complement else 0.0
            for j in rows:
                if complement:
                    s -= block[j]
                else:
                    s += block[j]
        sums += half
        sums /= den
        np.floor(sums, out=sums)
        out[:, start : start + MIX_CHUNK] = sums
    return out


def round_div(num: np.ndarray, den: int) -> np.ndarray:
    """num / den rounded half up (floor((num + den//2) / den)), exact on int64 arrays."""
    if den <= 0:
        raise ValueError("round_div: denominator must be positive")
    return (num + den // 2) // den


def isqrt_ceil(v: int) -> int:
    """ceil(sqrt(v)) for an integer v >= 0."""
    from math import isqrt

    r = isqrt(v)
    return r if r * r == v else r + 1
