"""The reward tree: deterministic, every proof verifies, OpenZeppelin leaf and pair hashing."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from node.chain.merkle import (
    EMPTY_ROOT,
    build_reward_tree,
    hash_pair,
    leaf_hash,
    verify,
)


def addr(i: int) -> str:
    return to_checksum_address(f"0x{i:040x}")


def test_leaf_is_openzeppelin_double_hash() -> None:
    inner = keccak(encode(["uint256", "address", "uint256"], [7, addr(1), 123]))
    assert leaf_hash(7, addr(1), 123) == keccak(inner)


def test_pair_hash_is_commutative_and_sorted() -> None:
    a, b = keccak(b"a"), keccak(b"b")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


def test_empty_tree_has_zero_root() -> None:
    assert build_reward_tree(1, {}).root == EMPTY_ROOT


def test_single_leaf_root_is_the_leaf_and_proof_empty() -> None:
    tree = build_reward_tree(3, {addr(1): 10})
    assert tree.root == leaf_hash(3, addr(1), 10)
    assert tree.proof(addr(1)) == []


def test_two_leaf_root() -> None:
    tree = build_reward_tree(1, {addr(1): 5, addr(2): 6})
    assert tree.root == hash_pair(leaf_hash(1, addr(1), 5), leaf_hash(1, addr(2), 6))


def test_order_and_address_case_do_not_change_root() -> None:
    amounts = {addr(i): i * 1000 for i in range(1, 8)}
    shuffled = {a.lower(): v for a, v in reversed(list(amounts.items()))}
    assert build_reward_tree(2, amounts).root == build_reward_tree(2, shuffled).root


def test_round_is_bound_into_the_leaves() -> None:
    amounts = {addr(1): 1, addr(2): 2}
    assert build_reward_tree(1, amounts).root != build_reward_tree(2, amounts).root


def test_zero_amounts_are_left_out() -> None:
    tree = build_reward_tree(1, {addr(1): 0, addr(2): 9})
    assert tree.amount(addr(1)) == 0
    assert tree.root == leaf_hash(1, addr(2), 9)
    with pytest.raises(KeyError):
        tree.proof(addr(1))


def test_rejects_negative_and_duplicate_accounts() -> None:
    with pytest.raises(ValueError, match="negative"):
        build_reward_tree(1, {addr(1): -1})
    with pytest.raises(ValueError, match="twice"):
        build_reward_tree(1, {addr(10): 1, addr(10).lower(): 2})


def test_proof_fails_for_other_amount_or_round() -> None:
    tree = build_reward_tree(4, {addr(i): i for i in range(1, 6)})
    proof = tree.proof(addr(3))
    assert verify(tree.root, leaf_hash(4, addr(3), 3), proof)
    assert not verify(tree.root, leaf_hash(4, addr(3), 4), proof)
    assert not verify(tree.root, leaf_hash(5, addr(3), 3), proof)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.integers(min_value=1, max_value=2**160 - 1),
        st.integers(min_value=1, max_value=2**128),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=0, max_value=2**64),
)
def test_every_proof_verifies(raw: dict[int, int], round_id: int) -> None:
    amounts = {addr(k): v for k, v in raw.items()}
    tree = build_reward_tree(round_id, amounts)
    for account, amount in amounts.items():
        proof = tree.proof(account)
        assert verify(tree.root, leaf_hash(round_id, account, amount), proof)
        assert len(proof) <= max(1, len(amounts)).bit_length()
