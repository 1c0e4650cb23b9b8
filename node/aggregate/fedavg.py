"""Example-weighted FedAvg in exact integer arithmetic.

Integer addition is associative, so the result does not depend on input order,
thread count or BLAS: every node computes the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from node.update.fixedpoint import FixedParams, saturate_int32


def fedavg(deltas: Sequence[Mapping[str, np.ndarray]], weights: Sequence[int]) -> FixedParams:
    """Weighted mean of fixed-point deltas, rounded half up; inputs are not modified."""
    if not deltas:
        raise ValueError("fedavg needs at least one update")
    if len(deltas) != len(weights) or any(w <= 0 for w in weights):
        raise ValueError("one positive weight per update is required")
    total = int(sum(weights))
    out: FixedParams = {}
    for name in sorted(deltas[0]):
        acc = np.zeros(deltas[0][name].shape, dtype=np.int64)
        for delta, weight in zip(deltas, weights, strict=True):
            acc += delta[name].astype(np.int64) * int(weight)
        out[name] = saturate_int32((acc + total // 2) // total)
    return out


def apply_delta(base: Mapping[str, np.ndarray], delta: Mapping[str, np.ndarray]) -> FixedParams:
    """base + delta, saturating to int32."""
    return {n: saturate_int32(base[n].astype(np.int64) + delta[n]) for n in sorted(base)}


def capped_weights(claimed: Sequence[int], cap: int) -> list[int]:
    """Example counts as aggregation weights, each capped so nobody can claim the round."""
    return [max(1, min(int(c), cap)) for c in claimed]
