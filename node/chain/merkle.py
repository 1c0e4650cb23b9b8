"""The per-round reward tree, verifiable by OpenZeppelin's ``MerkleProof``.

Leaf of ``(round, account, amount)``:
``keccak256(keccak256(abi.encode(uint256 round, address account, uint256 amount)))``
(OpenZeppelin's double-hashed standard leaf). Leaves are sorted by their hash, each level
pairs neighbours and hashes the pair sorted (OpenZeppelin's commutative hash), and an odd
node at the end of a level moves up unchanged. Every node computing the tree from the same
amounts gets the same root, whatever order it saw the amounts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

EMPTY_ROOT = bytes(32)


def leaf_hash(round_id: int, account: str, amount: int) -> bytes:
    """The leaf the contract checks for ``account`` claiming ``amount`` in ``round_id``."""
    inner = keccak(encode(["uint256", "address", "uint256"], [round_id, account, amount]))
    return keccak(inner)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin ``Hashes.commutativeKeccak256``."""
    return keccak(a + b) if a < b else keccak(b + a)


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """What ``MerkleProof.verify`` answers for ``proof`` of ``leaf`` under ``root``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


@dataclass(frozen=True)
class RewardTree:
    """A built reward tree: its root, and a proof for every account in it."""

    round: int
    amounts: Mapping[str, int]  # checksum address -> amount (only amounts > 0)
    layers: tuple[tuple[bytes, ...], ...]  # layers[0] = sorted leaves, layers[-1] = (root,)

    @property
    def root(self) -> bytes:
        return self.layers[-1][0] if self.layers[0] else EMPTY_ROOT

    def amount(self, account: str) -> int:
        """The amount ``account`` can claim (0 if it is not in the tree)."""
        return self.amounts.get(to_checksum_address(account), 0)

    def leaf(self, account: str) -> bytes:
        """The leaf of ``account``; ``KeyError`` if it is not in the tree."""
        checksum = to_checksum_address(account)
        return leaf_hash(self.round, checksum, self.amounts[checksum])

    def proof(self, account: str) -> list[bytes]:
        """Sibling hashes from ``account``'s leaf up to the root."""
        index = self.layers[0].index(self.leaf(account))
        path: list[bytes] = []
        for layer in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                path.append(layer[sibling])
            index //= 2
        return path


def build_reward_tree(round_id: int, amounts: Mapping[str, int]) -> RewardTree:
    """The reward tree for ``round_id``; accounts with a zero amount are left out."""
    clean: dict[str, int] = {}
    for account, amount in amounts.items():
        if amount < 0:
            raise ValueError(f"negative reward for {account}: {amount}")
        checksum = to_checksum_address(account)
        if checksum in clean:
            raise ValueError(f"account listed twice: {checksum}")
        if amount:
            clean[checksum] = amount
    layer = tuple(sorted(leaf_hash(round_id, a, v) for a, v in clean.items()))
    layers = [layer]
    while len(layer) > 1:
        layer = tuple(
            hash_pair(layer[i], layer[i + 1]) if i + 1 < len(layer) else layer[i]
            for i in range(0, len(layer), 2)
        )
        layers.append(layer)
    return RewardTree(round=round_id, amounts=clean, layers=tuple(layers))
