"""Flatten fixed-point parameter dicts into one integer matrix and back (pure helpers).

Names are taken in sorted order, so the layout is the same on every node. Rules do their
math on the (n, d) int32 matrix; only the final vector is cut back into named tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from node.update.fixedpoint import INT32_MAX, INT32_MIN, FixedParams


class AggregationError(ValueError):
    """Inputs a rule cannot aggregate (shapes, weights, preconditions such as n >= 2f+3)."""


@dataclass(frozen=True)
class Layout:
    """Parameter names (sorted), their shapes and offsets in the flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]  # len(names) + 1 entries; the last is d

    @property
    def size(self) -> int:
        return self.offsets[-1]


def layout_of(params: Mapping[str, np.ndarray]) -> Layout:
    names = tuple(sorted(params))
    shapes = tuple(tuple(int(s) for s in params[n].shape) for n in names)
    offsets = [0]
    for shape in shapes:
        offsets.append(offsets[-1] + int(np.prod(shape, dtype=np.int64)))
    return Layout(names, shapes, tuple(offsets))


def _as_int32(values: np.ndarray, name: str) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.integer):
        raise AggregationError(f"parameter {name!r} is {values.dtype}, not fixed-point integers")
    if values.dtype != np.int32 and values.size:
        lo, hi = int(values.min()), int(values.max())
        if lo < INT32_MIN or hi > INT32_MAX:
            raise AggregationError(f"parameter {name!r} does not fit int32")
    return values


def flatten(deltas: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, Layout]:
    """Stack deltas into a new (n, d) int32 matrix (inputs are only read)."""
    if not deltas:
        raise AggregationError("no updates to aggregate")
    layout = layout_of(deltas[0])
    out = np.empty((len(deltas), layout.size), dtype=np.int32)
    for i, delta in enumerate(deltas):
        if tuple(sorted(delta)) != layout.names:
            raise AggregationError(f"update {i} has different parameter names")
        for name, shape, lo, hi in zip(
            layout.names, layout.shapes, layout.offsets, layout.offsets[1:], strict=False
        ):
            values = _as_int32(np.asarray(delta[name]), name)
            if tuple(values.shape) != shape:
                raise AggregationError(f"update {i}: {name!r} has shape {values.shape}")
            out[i, lo:hi] = values.reshape(-1)
    return out, layout


def flatten_one(params: Mapping[str, np.ndarray], layout: Layout) -> np.ndarray:
    """One dict as a flat int32 vector in ``layout`` (names must match)."""
    if tuple(sorted(params)) != layout.names:
        raise AggregationError("parameter names differ from the updates'")
    return flatten([params])[0][0]


def unflatten(vector: np.ndarray, layout: Layout) -> FixedParams:
    """Cut a flat vector back into named int32 tensors (copies)."""
    if vector.shape != (layout.size,):
        raise AggregationError("vector length does not match the layout")
    clipped = np.clip(vector, INT32_MIN, INT32_MAX).astype(np.int32)
    return {
        name: clipped[lo:hi].reshape(shape).copy()
        for name, shape, lo, hi in zip(
            layout.names, layout.shapes, layout.offsets, layout.offsets[1:], strict=False
        )
    }
