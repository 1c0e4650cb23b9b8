"""The chain's stop rule, seen from a node (pure helpers; the rule itself is on chain).

Each vote carries the voter's evaluation of the model it votes for, in basis points. When
a round finalizes the contract records the winning voters' stake-weighted mean as the
round's agreed metric, and finishes the deployment when it reaches ``targetMetricBps``,
after ``patience`` finalized rounds without a better agreed metric, or with the
``maxRounds``-th finalized round (FedCoordinator ``_applyStopRule``). A finished deployment
opens no more rounds: nodes stop training and ``fedchain model export --final`` takes the
final model.
"""

from __future__ import annotations

import math

BPS = 10_000


def metric_bps_of(accuracy: float) -> int:
    """An accuracy in [0, 1] as the basis points a vote carries (nearest, clamped; NaN: 0)."""
    if math.isnan(accuracy):
        return 0
    return min(BPS, max(0, round(accuracy * BPS)))


def accuracy_to_bps(value: float) -> int:
    """A ``--target-accuracy`` value as basis points: a fraction (0.9) or a percentage (90).

    Raises ValueError for anything outside [0, 1] or (1, 100].
    """
    if math.isnan(value) or value < 0 or value > 100:
        raise ValueError(
            f"target accuracy must be a fraction in [0, 1] or a percentage, got {value}"
        )
    fraction = value if value <= 1 else value / 100
    return round(fraction * BPS)
