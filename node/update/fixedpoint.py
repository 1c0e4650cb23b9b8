"""Fixed-point parameters: the exact, reproducible representation (numpy only).

Training runs in float32; everything that decides the shared model (deltas,
aggregation, the encoded model bytes) is done on int32/int64 so that every node
gets bit-identical results whatever its CPU, BLAS or thread count. The conversions
from and to torch state dicts live in ``node.learning.fixedpoint``.
"""

from __future__ import annotations

import numpy as np

FRAC_BITS = 16
SCALE = 1 << FRAC_BITS
INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)

FixedParams = dict[str, np.ndarray]
"""Parameter name -> int32 array (value * 2**FRAC_BITS, rounded)."""


def saturate_int32(values: np.ndarray) -> np.ndarray:
    """int64 array clipped into int32 range, as int32."""
    return np.clip(values, INT32_MIN, INT32_MAX).astype(np.int32)
