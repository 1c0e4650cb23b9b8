"""draw_committee: the contract's stake-weighted draw without replacement, in Python."""

from __future__ import annotations

import bisect
import itertools
import random

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from node.committee import draw_committee, is_sampled

ZERO_SEED = bytes(32)
# keccak256(abi.encode(bytes32(0), uint256(i))) for i = 0, 1, 2: the draw's random words.
WORDS = [
    0xAD3228B676F7D3CD4284A5443F17F1962B36E491B30A40B2405849E597BA5FB5,
    0xA6EEF7E35ABE7026729641147F7915573C7E97B47EFA546F5F6E3230263BCB49,
    0xAC33FF75C19E70FE83507DB0D683FD3465C996598DC972688B7ACE676C89077B,
]


def test_words_are_keccak_of_the_abi_encoded_seed_and_index() -> None:
    for i, word in enumerate(WORDS):
        assert int.from_bytes(keccak(ZERO_SEED + i.to_bytes(32, "big")), "big") == word


def test_a_draw_worked_by_hand() -> None:
    # weights 3, 0, 5, 2 (total 10): x0 = WORDS[0] % 10 = 7 -> prefix sums 3, 3, 8: index 2;
    # left 3, 0, 0, 2 (total 5): x1 = WORDS[1] % 5 = 2 -> prefix 3 > 2: index 0;
    # left 0, 0, 0, 2 (total 2): x2 = WORDS[2] % 2 = 1 -> prefix 0, 0, 0, 2: index 3.
    assert (WORDS[0] % 10, WORDS[1] % 5, WORDS[2] % 2) == (7, 2, 1)
    assert draw_committee(ZERO_SEED, [3, 0, 5, 2], 3) == [2, 0, 3]
    assert draw_committee(ZERO_SEED, [3, 0, 5, 2], 1) == [2]  # the draw order is a prefix


def reference_draw(seed: bytes, weights: list[int], k: int) -> list[int]:
    """The same rule written another way: bisect on prefix sums recomputed each draw."""
    left, out = list(weights), []
    for i in range(k):
        prefix = list(itertools.accumulate(left))
        word = int.from_bytes(keccak(seed + i.to_bytes(32, "big")), "big")
        j = bisect.bisect_right(prefix, word % prefix[-1])
        out.append(j)
        left[j] = 0
    return out


@settings(max_examples=100, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    weights=st.lists(st.integers(0, 10**21), min_size=1, max_size=40),
    data=st.data(),
)
def test_matches_the_reference_and_draws_distinct_staked_members(
    seed: bytes, weights: list[int], data: st.DataObject
) -> None:
    positive = sum(1 for w in weights if w > 0)
    if positive == 0:
        return
    k = data.draw(st.integers(1, positive))
    drawn = draw_committee(seed, weights, k)
    assert drawn == reference_draw(seed, weights, k)
    assert len(drawn) == len(set(drawn)) == k
    assert all(weights[j] > 0 for j in drawn)


def test_first_member_is_drawn_in_proportion_to_stake() -> None:
    weights = [1, 2, 3, 4, 0, 10]
    rng = random.Random(13)
    trials = 4000
    counts = [0] * len(weights)
    for _ in range(trials):
        counts[draw_committee(rng.randbytes(32), weights, 2)[0]] += 1
    total = sum(weights)
    chi2 = sum(
        (counts[j] - trials * w / total) ** 2 / (trials * w / total)
        for j, w in enumerate(weights)
        if w
    )
    assert counts[4] == 0
    assert chi2 < 20.5  # 4 degrees of freedom: p < 0.0004 for a fair draw


def test_drawing_everyone_with_stake_gives_a_permutation_of_them() -> None:
    drawn = draw_committee(b"\x07" * 32, [5, 0, 1, 9, 0, 2], 4)
    assert sorted(drawn) == [0, 2, 3, 5]


@pytest.mark.parametrize(
    ("seed", "weights", "k", "message"),
    [
        (b"\x00" * 31, [1, 2], 1, "the seed must be 32 bytes"),
        (ZERO_SEED, [1, -2], 1, "weights must be >= 0"),
        (ZERO_SEED, [1, 2], 0, r"k must be in \[1, 2\]"),
        (ZERO_SEED, [1, 0, 2], 3, r"k must be in \[1, 2\]"),
        (ZERO_SEED, [0, 0], 1, r"k must be in \[1, 0\]"),
    ],
    ids=["short seed", "negative weight", "k = 0", "k above the staked", "nobody staked"],
)
def test_rejects_what_the_contract_never_draws(
    seed: bytes, weights: list[int], k: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        draw_committee(seed, weights, k)


def test_a_round_is_sampled_only_when_k_is_below_the_active_count() -> None:
    assert is_sampled(2, 5)
    assert is_sampled(4, 5)
    assert not is_sampled(5, 5)  # K >= active: everyone
    assert not is_sampled(8, 5)
    assert not is_sampled(0, 5)  # K = 0: everyone
