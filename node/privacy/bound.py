"""The update norm bound every node verifies under DP, from the TrainingSpec and the model
size alone (no chain reads, so every node derives the same number).

An honest update is the clipped delta (norm <= C) plus Gaussian noise rounded to fixed
point. Its norm is at most ``C + sigma * (sqrt(d) + t) + sqrt(d) / (2 * SCALE)`` except with
probability ``exp(-t^2 / 2)`` (Gaussian concentration of the 1-Lipschitz norm around its
mean, which is below ``sigma * sqrt(d)``; the last term is the rounding). ``sigma`` is the
local-mode std ``z * C``: distributed mode adds less per update, so one bound serves both
and does not depend on the round's participant count. ``t`` makes the tail 1e-12.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from node.learning.spec import TrainingSpec
from node.update.fixedpoint import SCALE
from node.verify.checks import MAX_ABS_ELEMENT

TAIL = 1e-12
TAIL_T = math.sqrt(2 * math.log(1 / TAIL))
# an element beyond MAX_ABS_ELEMENT is rejected outright: the noise must stay far below it
MAX_NOISE_STD = MAX_ABS_ELEMENT / SCALE / 10


def model_size(shapes: Mapping[str, tuple[int, ...]]) -> int:
    return sum(math.prod(shape) for shape in shapes.values())


def dp_norm_bound(spec: TrainingSpec, size: int) -> float:
    """The L2 bound of an honest DP update of a ``size``-parameter model."""
    sigma = spec.dp_noise_multiplier * spec.dp_clip_norm
    root = math.sqrt(size)
    return spec.dp_clip_norm + sigma * (root + TAIL_T) + root / (2 * SCALE)


def update_norm_bound(
    spec: TrainingSpec, shapes: Mapping[str, tuple[int, ...]], configured: float
) -> float:
    """What verification enforces: the DP bound when DP is on, else the node's
    configured ``norm_bound``."""
    if spec.dp_mode == "off":
        return configured
    return dp_norm_bound(spec, model_size(shapes))


def dp_problems(spec: TrainingSpec) -> list[str]:
    """Settings the mechanism cannot run with (beyond ``TrainingSpec.problems``)."""
    sigma = spec.dp_noise_multiplier * spec.dp_clip_norm
    if spec.dp_mode != "off" and sigma > MAX_NOISE_STD:
        return [
            f"training: noise std dp_noise_multiplier * dp_clip_norm = {sigma:g} exceeds "
            f"{MAX_NOISE_STD:g} (updates with elements beyond ±{MAX_ABS_ELEMENT / SCALE:g} "
            "are rejected); lower dp_clip_norm"
        ]
    return []
