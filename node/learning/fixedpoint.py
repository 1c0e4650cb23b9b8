"""Float state dicts <-> fixed-point parameters (the torch side of ``node.update.fixedpoint``).

The constants and the numpy-only helpers live in ``node.update.fixedpoint`` so that the
codec, the verifier and the aggregation rules never import torch; they are re-exported
here for the learning code.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from node.update.fixedpoint import (
    FRAC_BITS,
    INT32_MAX,
    INT32_MIN,
    SCALE,
    FixedParams,
    saturate_int32,
)

__all__ = [
    "FRAC_BITS",
    "INT32_MAX",
    "INT32_MIN",
    "SCALE",
    "FixedParams",
    "from_fixed",
    "saturate_int32",
    "to_fixed",
]


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
