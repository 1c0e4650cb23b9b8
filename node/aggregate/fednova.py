"""FedNova (Wang et al., 2020): updates normalised by their authors' local step counts.

An author that ran tau_i local SGD steps sends the delta D_i. Plain averaging lets authors
with more data (more steps per epoch) or more epochs pull the model towards their own
optimum (objective inconsistency). FedNova aggregates the per-step updates D_i / tau_i and
rescales the result by tau_eff = sum_i p_i tau_i, with p_i = w_i / sum_j w_j over the
round's accepted updates (w: the capped example counts that also weight FedAvg).

Every rule in rules.py is positively homogeneous (rule(c * x) = c * rule(x), up to the
last bit of rounding), so instead of dividing by tau_i and multiplying the aggregate by
tau_eff afterwards, which would lose the low bits of small fixed-point deltas, each
update is rescaled once to tau_eff steps:

    x_i = round(D_i * tau_eff / tau_i) = round(D_i * sum_j w_j tau_j / (tau_i * sum_j w_j))

in exact integer arithmetic (rounded half up like every rule), and the deployment's rule
runs on the x_i unchanged. Every node gets the same bytes.

Step counts are claimed by the authors and cannot be checked: an author claiming tau = 1
would have its update multiplied by tau_eff. So claimed counts are clamped to
[m // STEP_SPREAD, m * STEP_SPREAD] around the median m of the round's claims (honest
nodes are the majority every robust rule assumes, so m is an honest count), and a missing
count (0: a header without one) counts as m, i.e. neutral. See docs/heterogeneity.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np

from node.aggregate.exact import max_abs
from node.aggregate.vectors import AggregationError
from node.update.fixedpoint import FixedParams, saturate_int32

STEP_SPREAD = 16  # claimed step counts count as at most 16x above or below the median
_INT64_SAFE = 1 << 62


def clamp_steps(steps: Sequence[int]) -> list[int]:
    """Claimed step counts as FedNova uses them: missing (0) -> the median of the given
    counts, the rest clamped to [median // STEP_SPREAD, median * STEP_SPREAD] (all 1 when
    nobody gave one, which makes FedNova the plain rule)."""
    if any(int(s) < 0 for s in steps):
        raise AggregationError("local step counts must be >= 0")
    given = sorted(int(s) for s in steps if int(s) > 0)
    if not given:
        return [1] * len(steps)
    median = given[(len(given) - 1) // 2]
    lo, hi = max(1, median // STEP_SPREAD), median * STEP_SPREAD
    return [median if int(s) == 0 else min(max(int(s), lo), hi) for s in steps]


def effective_steps(steps: Sequence[int], weights: Sequence[int]) -> Fraction:
    """tau_eff = sum_i w_i tau_i / sum_i w_i, exactly (steps as ``clamp_steps`` returns)."""
    if len(steps) != len(weights) or not steps or any(int(w) <= 0 for w in weights):
        raise AggregationError("one positive weight per step count is required")
    total = sum(int(w) for w in weights)
    return Fraction(sum(int(w) * int(t) for w, t in zip(weights, steps, strict=True)), total)


def rescale(delta: Mapping[str, np.ndarray], factor: Fraction) -> FixedParams:
    """round(delta * factor) per element, rounded half up, exact, saturated to int32."""
    if factor <= 0:
        raise AggregationError(f"rescale factor must be positive, got {factor}")
    num, den = factor.numerator, factor.denominator
    out: FixedParams = {}
    for name in sorted(delta):
        values = np.asarray(delta[name])
        if max_abs(values) * num + den < _INT64_SAFE:
            scaled = (values.astype(np.int64) * num + den // 2) // den
        else:  # Python ints: exact whatever the sizes (only for absurd step counts)
            scaled = (values.astype(object) * num + den // 2) // den
            scaled = np.clip(scaled, np.iinfo(np.int32).min, np.iinfo(np.int32).max)
        out[name] = saturate_int32(scaled.astype(np.int64))
    return out


def normalise(
    deltas: Sequence[Mapping[str, np.ndarray]], steps: Sequence[int], weights: Sequence[int]
) -> list[FixedParams]:
    """Each delta rescaled to the round's effective step count (see the module doc): the
    rows any rule then aggregates as usual. Inputs are not modified."""
    if len(deltas) != len(steps):
        raise AggregationError("one local step count per update is required")
    taus = clamp_steps(steps)
    tau_eff = effective_steps(taus, weights)
    return [rescale(d, tau_eff / t) for d, t in zip(deltas, taus, strict=True)]
