"""Verification of a decoded update against what the round expects.

Every failure raises ``UpdateRejected`` with a short reason label (for metrics) and a
human-readable detail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from node.errors import UpdateRejected
from node.update.codec import CODEC, UpdateHeader, decode_update
from node.update.fixedpoint import SCALE


@dataclass(frozen=True)
class Expectation:
    """What a valid update for this round from this author must look like."""

    deployment: str
    round: int
    author: str
    base_cid: str
    shapes: Mapping[str, tuple[int, ...]]
    max_examples: int
    norm_bound: float
    codec: str = CODEC  # the deployment's update codec; any other is refused (wrong_codec)


def check_header(header: UpdateHeader, expect: Expectation) -> None:
    if header.deployment != expect.deployment:
        raise UpdateRejected("wrong_deployment", f"{header.deployment} != {expect.deployment}")
    if header.round != expect.round:
        raise UpdateRejected("wrong_round", f"update for round {header.round}, not {expect.round}")
    if header.author.lower() != expect.author.lower():
        raise UpdateRejected(
            "wrong_author", f"header names {header.author}, committer {expect.author}"
        )
    if header.base_cid != expect.base_cid:
        raise UpdateRejected(
            "wrong_base", f"trained on {header.base_cid}, round base {expect.base_cid}"
        )
    if not 1 <= header.num_examples <= expect.max_examples:
        raise UpdateRejected("bad_examples", f"claims {header.num_examples} examples")


def check_shapes(delta: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]]) -> None:
    if set(delta) != set(shapes):
        raise UpdateRejected("bad_shape", "parameter names differ from the model's")
    for name, shape in shapes.items():
        if tuple(delta[name].shape) != tuple(shape):
            raise UpdateRejected("bad_shape", f"{name} has shape {delta[name].shape}, not {shape}")


MAX_ABS_ELEMENT = 1 << 24  # 256.0 in model units: far beyond any honest delta element
_CHUNK = 1 << 14  # 2**14 squares below 2**48 sum below 2**62: no int64 overflow


def fixed_sum_of_squares(delta: Mapping[str, np.ndarray]) -> int:
    """Exact sum of squares of a fixed-point delta (no float rounding, no overflow).

    Raises ``UpdateRejected`` for elements beyond ``MAX_ABS_ELEMENT``.
    """
    total = 0
    for name in sorted(delta):
        flat = delta[name].astype(np.int64).ravel()
        if flat.size and int(np.abs(flat).max()) > MAX_ABS_ELEMENT:
            raise UpdateRejected("out_of_range", f"{name} has an element beyond ±256")
        for start in range(0, flat.size, _CHUNK):
            chunk = flat[start : start + _CHUNK]
            total += int(np.dot(chunk, chunk))
    return total


def check_norm(delta: Mapping[str, np.ndarray], bound: float) -> None:
    limit = int(bound * SCALE)
    total = fixed_sum_of_squares(delta)
    if total > limit * limit:
        norm = math.sqrt(total) / SCALE
        raise UpdateRejected("norm_bound", f"update norm {norm:.3f} exceeds bound {bound}")


def verify_update(blob: bytes, expect: Expectation) -> tuple[UpdateHeader, dict[str, np.ndarray]]:
    """Decode and check one update blob (whose CID the caller already matched).

    A compressed update is decoded exactly first: the checks, the norm bound included,
    apply to the delta every node aggregates."""
    header, delta = decode_update(
        blob, expect.codec, expect.shapes, lambda head: check_header(head, expect)
    )
    check_shapes(delta, expect.shapes)
    check_norm(delta, expect.norm_bound)
    return header, delta
