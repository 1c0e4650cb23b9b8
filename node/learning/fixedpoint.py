"""Model parameters as fixed-point integers: the exact, reproducible representation.

Training runs in float32; everything that decides the shared model (deltas,
aggregation, the encoded model bytes) is done on int32/int64 so that every node
gets bit-identical results whatever its CPU, BLAS or thread count.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

FRAC_BITS = 16
SCALE = 1 << FRAC_BITS
INT32_MIN = np.iinfo(np.int32).min
INT32_MAX = np.iinfo(np.int32).max

FixedParams = dict[str, np.ndarray]
"""Parameter name -> int32 array (value * 2**FRAC_BITS, rounded)."""


def to_fixed(state: Mapping[str, torch.Tensor]) -> FixedParams:
    """Quantize a float state dict to int32 fixed point (round half to even, saturating)."""
    out: FixedParams = {}
    for name in sorted(state):
        values = state[name].detach().cpu().to(torch.float64).numpy() * SCALE
        out[name] = np.clip(np.rint(values), INT32_MIN, INT32_MAX).astype(np.int32)
    return out


def from_fixed(params: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Float32 state dict of fixed-point parameters."""
    return {
        name: torch.from_numpy(params[name].astype(np.float64) / SCALE).to(torch.float32)
        for name in sorted(params)
    }


def saturate_int32(values: np.ndarray) -> np.ndarray:
    """int64 array clipped into int32 range, as int32."""
    return np.clip(values, INT32_MIN, INT32_MAX).astype(np.int32)
