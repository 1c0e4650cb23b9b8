"""Clip a fixed-point delta to an L2 bound and add Gaussian noise, exactly in int32.

Only the author runs this (its output is the update it publishes); what every node checks
is the norm bound of ``node.privacy.bound``. The noise comes from a generator seeded by the
OS (``secrets``), never from the node's reproducible training seed: noise a peer could
recompute would protect nothing.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping

import numpy as np

from node.learning.spec import TrainingSpec
from node.update.fixedpoint import SCALE, FixedParams, saturate_int32
from node.verify.checks import fixed_sum_of_squares


def noise_std(spec: TrainingSpec, participants: int) -> float:
    """Per-update noise std in model units: ``z * C`` locally, ``z * C / sqrt(K)`` in
    distributed mode (the K updates' noise adds up to ``z * C`` in their sum)."""
    if spec.dp_mode == "off":
        return 0.0
    std = spec.dp_noise_multiplier * spec.dp_clip_norm
    if spec.dp_mode == "distributed":
        if participants < 1:
            raise ValueError(f"distributed DP needs >= 1 participant, got {participants}")
        std /= math.sqrt(participants)
    return std


def clip_fixed(delta: Mapping[str, np.ndarray], clip_norm: float) -> FixedParams:
    """``delta`` scaled down (towards zero, element by element) so its exact L2 norm is at
    most ``clip_norm``; returned unchanged (copied) when already within it."""
    limit = int(clip_norm * SCALE)
    # float64 here: a diverged training run may produce elements the exact check refuses
    total = sum(float(np.sum(np.square(delta[n].astype(np.float64)))) for n in delta)
    if total <= limit * limit and fixed_sum_of_squares(delta) <= limit * limit:
        return {name: np.array(delta[name], dtype=np.int32) for name in sorted(delta)}
    factor = limit / math.sqrt(total)
    for _ in range(20):  # rounding to nearest can overshoot by a hair: shrink and retry
        out = {
            name: np.rint(delta[name].astype(np.float64) * factor).astype(np.int32)
            for name in sorted(delta)
        }
        got = fixed_sum_of_squares(out)
        if got <= limit * limit:
            return out
        factor *= limit / math.sqrt(got) * (1 - 1e-9)
    # truncation towards zero only shrinks |x|: always within the limit
    return {
        name: np.trunc(delta[name].astype(np.float64) * factor).astype(np.int32)
        for name in sorted(delta)
    }


def add_noise(
    delta: Mapping[str, np.ndarray], std: float, rng: np.random.Generator | None = None
) -> FixedParams:
    """``delta`` plus N(0, std^2) per element, rounded to fixed point (int32, saturating)."""
    gen = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    out: FixedParams = {}
    for name in sorted(delta):
        noise = np.rint(gen.normal(0.0, std * SCALE, size=delta[name].shape))
        out[name] = saturate_int32(delta[name].astype(np.int64) + noise.astype(np.int64))
    return out


def privatize(
    delta: Mapping[str, np.ndarray],
    spec: TrainingSpec,
    participants: int,
    bound: float,
    rng: np.random.Generator | None = None,
) -> FixedParams:
    """Clip to ``spec.dp_clip_norm`` and add this mode's noise; ``bound`` is the norm every
    verifier checks. A draw beyond it (probability below 1e-12) is redrawn, so an honest
    update is never rejected; the redraw shifts the distribution by less than that
    probability, which is far inside ``dp_delta``."""
    clipped = clip_fixed(delta, spec.dp_clip_norm)
    std = noise_std(spec, participants)
    limit = int(bound * SCALE)
    for _ in range(100):
        noised = add_noise(clipped, std, rng)
        if fixed_sum_of_squares(noised) <= limit * limit:
            return noised
    raise ValueError(f"noise of std {std} never fit the norm bound {bound}")
