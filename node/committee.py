"""The coordinator's per-round committee draw, replayed from chain data alone.

When round r opens with K = ``committeeSize`` below the active count, the contract draws
K participants stake-weighted without replacement from ``seed`` (docs/committee.md):

    for i in 0..K-1:
        x = uint256(keccak256(abi.encode(seed, i))) % remaining
        pick the smallest registry index j whose prefix sum of weights exceeds x
        (weight = stake if active, 0 once drawn or inactive); remaining -= its weight

``draw_committee`` computes the same list, so any node can check the ``CommitteeSelected``
event against the registry (its seed and the stakes at the round's opening).
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode
from eth_utils import keccak


def is_sampled(k: int, active_count: int) -> bool:
    """Whether a round opened with ``active_count`` active participants draws a committee
    of ``k`` (else everyone active takes part)."""
    return 0 < k < active_count


def draw_committee(seed: bytes, weights: Sequence[int], k: int) -> list[int]:
    """Indices into ``weights`` (the registry, in registration order: stake of each active
    participant, 0 for an inactive one) of the ``k`` members, in draw order.

    ``ValueError`` for a seed that is not 32 bytes, a negative weight, or ``k`` outside
    1..(number of positive weights).
    """
    if len(seed) != 32:
        raise ValueError(f"the seed must be 32 bytes, got {len(seed)}")
    left = [int(w) for w in weights]
    if any(w < 0 for w in left):
        raise ValueError("weights must be >= 0")
    positive = sum(1 for w in left if w > 0)
    if not 1 <= k <= positive:
        raise ValueError(f"k must be in [1, {positive}] (participants with stake), got {k}")
    remaining = sum(left)
    drawn: list[int] = []
    for i in range(k):
        x = int.from_bytes(keccak(encode(["bytes32", "uint256"], [seed, i])), "big") % remaining
        j, prefix = 0, left[0]
        while prefix <= x:  # the smallest j whose prefix sum exceeds x
            j += 1
            prefix += left[j]
        drawn.append(j)
        remaining -= left[j]
        left[j] = 0
    return drawn
