"""Overlapped rounds' base rule (pure): which model a round's updates are trained on.

With ``staleness`` 0 (the default) round r's updates are trained on round r's base, the
model finalized before r opened. With ``staleness`` 1 (DiLoCo-style overlap) they are
trained on round r - 1's base, the model known when round r - 1's training ended, so a
node trains round r's update while round r - 1 is still exchanged, voted and claimed; the
aggregate is still applied to round r's base. Round 1 has no earlier round: its own base.
Every honest node applies the same rule to the same chain history, so all accept exactly
one base per round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
STALENESS = (0, 1)  # the values a deployment may choose
DEFAULT_STALENESS = 0  # what `fedchain deploy` picks (docs/decisions.md)


def staleness_problem(staleness: int) -> str | None:
    """Why ``staleness`` is not a valid deployment setting (None when it is)."""
    if staleness in STALENESS:
        return None
    return (
        f"staleness must be 0 (train on the round's base) or 1 (one round stale), got {staleness}"
    )


def trained_round(staleness: int, r: int) -> int:
    """The round whose base round ``r``'s updates are trained on."""
    if staleness_problem(staleness):
        raise ValueError(staleness_problem(staleness))
    if r < 1:
        raise ValueError(f"rounds start at 1, got {r}")
    return max(1, r - staleness)


def training_base(staleness: int, r: int, base_of: Callable[[int], T]) -> T:
    """The model round ``r``'s updates must be trained on, given each round's base
    (``base_of(k)``: the model current when round k opened)."""
    return base_of(trained_round(staleness, r))
