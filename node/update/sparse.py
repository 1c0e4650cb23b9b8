"""The compressed update codec ``topk-int8-p<P>``: top-k of each tensor, int8 values.

A compressed delta keeps at most ``k = ceil(n * P / 1000)`` entries of each n-element
tensor, each ``q * scale`` with ``q`` an int8 in [-127, 127] (0 excluded) and one integer
scale per tensor. Its body, per tensor in header order::

    u32 LE scale | bitmap, ceil(n / 8) bytes (little bit order, which entries are kept) |
    one int8 per kept entry, in index order

Decoding is exact integer arithmetic (``q * scale`` as int32), so every node decodes the
same bytes to the same delta. Lossy is only ``compress``, run by the author, whose error
the author carries into its next update (``node.update.feedback``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

import numpy as np

from node.errors import UpdateRejected
from node.update.fixedpoint import INT32_MAX, FixedParams
from node.update.names import PREFIX, permille_of

__all__ = ["PREFIX", "compress", "decode_tensor", "encode_tensor", "kept", "permille_of"]
Q_MAX = 127
MAX_SCALE = INT32_MAX // Q_MAX  # q * scale always fits int32
_SCALE = struct.Struct("<I")
# compress() aims this far below the norm limit so float rounding of the norm never lets
# a compressed delta exceed the verifier's exact integer bound
_NORM_MARGIN = 1e-6


def kept(size: int, permille: int) -> int:
    """Most entries a tensor of ``size`` elements may keep."""
    return (size * permille + 999) // 1000


def _round_div(values: np.ndarray, divisor: int) -> np.ndarray:
    """values / divisor rounded half up, in integers."""
    return np.floor_divide(2 * values + divisor, 2 * divisor)


def compress(
    corrected: Mapping[str, np.ndarray], permille: int, norm_limit: int | None = None
) -> FixedParams:
    """The representable delta nearest ``corrected`` (int32 or int64 fixed point).

    Per tensor: the ``kept`` largest magnitudes (ties: lower index first), scaled to int8
    with ``scale = ceil(max / 127)``. ``norm_limit`` (fixed point, e.g. the verifier's
    bound times SCALE): the scales shrink so the result's L2 norm stays within it.
    """
    codes: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for name in sorted(corrected):
        flat = np.asarray(corrected[name], dtype=np.int64).ravel()
        index = np.sort(np.argsort(-np.abs(flat), kind="stable")[: kept(flat.size, permille)])
        picked = flat[index]
        peak = int(np.abs(picked).max()) if picked.size else 0
        scale = min(-(-peak // Q_MAX), MAX_SCALE)
        q = np.clip(_round_div(picked, scale), -Q_MAX, Q_MAX) if scale else np.zeros_like(picked)
        codes[name] = (index, q, scale)
    if norm_limit is not None:
        norm = math.sqrt(sum(float(np.dot(q, q)) * s * s for _, q, s in codes.values()))
        target = norm_limit * (1 - _NORM_MARGIN)
        if norm > target:
            codes = {n: (i, q, math.floor(s * target / norm)) for n, (i, q, s) in codes.items()}
    sent: FixedParams = {}
    for name, (index, q, scale) in codes.items():
        shape = np.shape(corrected[name])
        flat32 = np.zeros(math.prod(shape), dtype=np.int32)
        flat32[index] = (q * scale).astype(np.int32)
        sent[name] = flat32.reshape(shape)
    return sent


def encode_tensor(values: np.ndarray, permille: int) -> bytes:
    """Body bytes of one tensor; ValueError when ``values`` is not representable (more
    than ``kept`` nonzero entries, or not int8 multiples of one scale): compress first."""
    flat = np.asarray(values, dtype=np.int64).ravel()
    mask = flat != 0
    nonzero = flat[mask]
    if nonzero.size > kept(flat.size, permille):
        raise ValueError(f"{nonzero.size} nonzero entries, more than the codec keeps")
    scale = int(np.gcd.reduce(np.abs(nonzero))) if nonzero.size else 0
    q = nonzero // scale if scale else nonzero
    if scale > MAX_SCALE or (q.size and int(np.abs(q).max()) > Q_MAX):
        raise ValueError("values are not int8 multiples of one scale")
    bitmap = np.packbits(mask, bitorder="little").tobytes()
    return _SCALE.pack(scale) + bitmap + q.astype(np.int8).tobytes()


def decode_tensor(
    blob: bytes, offset: int, name: str, shape: tuple[int, ...], permille: int
) -> tuple[np.ndarray, int]:
    """(int32 tensor, offset after it); ``UpdateRejected('malformed')`` on bad bytes."""
    size = math.prod(shape)
    map_len = (size + 7) // 8
    if offset + _SCALE.size + map_len > len(blob):
        raise UpdateRejected("malformed", f"payload too short for tensor {name}")
    (scale,) = _SCALE.unpack_from(blob, offset)
    offset += _SCALE.size
    bits = np.frombuffer(blob, dtype=np.uint8, count=map_len, offset=offset)
    offset += map_len
    mask = np.unpackbits(bits, count=map_len * 8, bitorder="little").astype(bool)
    if mask[size:].any():
        raise UpdateRejected("malformed", f"padding bits set in the bitmap of {name}")
    count = int(mask.sum())
    if count > kept(size, permille):
        raise UpdateRejected(
            "malformed",
            f"oversized: {name} keeps {count} entries, the codec allows "
            f"{kept(size, permille)} of {size}",
        )
    if offset + count > len(blob):
        raise UpdateRejected("malformed", f"payload too short for the values of {name}")
    if (scale == 0) != (count == 0) or scale > MAX_SCALE:
        raise UpdateRejected("malformed", f"scale {scale} invalid for {count} entries of {name}")
    q = np.frombuffer(blob, dtype=np.int8, count=count, offset=offset).astype(np.int32)
    if count and (int(np.abs(q).max()) > Q_MAX or not q.all()):
        raise UpdateRejected("malformed", f"value codes of {name} outside ±1..127")
    dense = np.zeros(size, dtype=np.int32)
    dense[mask[:size]] = q * np.int32(scale)
    return dense.reshape(shape), offset + count
