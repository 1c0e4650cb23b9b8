"""Deterministic integer reward split among contributors."""

from __future__ import annotations

from collections.abc import Mapping


def split_pool(pool: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``pool`` in proportion to ``weights`` (floor; the remainder stays unpaid).

    Keys are processed in sorted order so the result is the same on every node.
    """
    positive = {k: int(w) for k, w in sorted(weights.items()) if int(w) > 0}
    total = sum(positive.values())
    if pool <= 0 or total == 0:
        return {}
    return {k: pool * w // total for k, w in positive.items()}
