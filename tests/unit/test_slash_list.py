"""The capped slash list: who is kept, in which order, identically on every node."""

import random

import pytest
import trio
from eth_utils import keccak, to_checksum_address

from node.chainlink import ChainLink
from node.metrics import Metrics
from node.ports import ChainPort
from node.slashing import slash_list, slash_priority

FED = 10**18


def addr(i: int) -> str:
    return to_checksum_address(f"0x{keccak(i.to_bytes(8, 'big'))[:20].hex()}")


def encoded(r: int, address: str) -> bytes:
    """abi.encode(uint256 r, address a), written out by hand: two 32-byte words."""
    return r.to_bytes(32, "big") + bytes(12) + bytes.fromhex(address[2:])


A = [addr(i) for i in range(40)]


def numeric(addresses: list[str]) -> list[str]:
    return sorted(addresses, key=lambda a: int(a, 16))


def test_priority_is_keccak_of_the_abi_encoding() -> None:
    for r in (0, 1, 7, 2**64):
        for a in A[:5]:
            assert slash_priority(r, a) == keccak(encoded(r, a))
            assert slash_priority(r, a.lower()) == slash_priority(r, a)


def test_addresses_sort_as_numbers_not_as_checksum_strings() -> None:
    # mixed-case checksum strings sort 'B' < 'a'; the contract wants ascending uint160
    pair = next(
        (a, b) for a in A for b in A if int(a, 16) < int(b, 16) and sorted([a, b]) == [b, a]
    )
    assert slash_list({pair[1]: FED, pair[0]: FED}, 1, 16) == list(pair)
    assert slash_list(dict.fromkeys(A[:16], FED), 1, 16) == numeric(A[:16])


def top_by_priority(stakes: dict[str, int], r: int, cap: int) -> list[str]:
    ranked = sorted(stakes, key=lambda a: (-stakes[a], keccak(encoded(r, a))))
    return numeric(ranked[:cap])


@pytest.mark.parametrize(
    ("case", "stakes", "r", "cap", "want"),
    [
        ("empty", {}, 3, 16, []),
        ("under the cap: all", {A[0]: 1, A[1]: 5 * FED}, 3, 16, numeric(A[:2])),
        ("exactly the cap: all", dict.fromkeys(A[:16], FED), 3, 16, numeric(A[:16])),
        ("cap 0", {A[0]: FED}, 3, 0, []),
        (
            "largest stakes first",
            {a: (i + 1) * FED for i, a in enumerate(A[:20])},
            3,
            16,
            numeric(A[4:20]),
        ),
        ("one big among equals", {A[0]: 9 * FED, **dict.fromkeys(A[1:20], FED)}, 3, 1, [A[0]]),
    ],
)
def test_table(case: str, stakes: dict[str, int], r: int, cap: int, want: list[str]) -> None:
    assert slash_list(stakes, r, cap) == want, case


@pytest.mark.parametrize("r", [1, 2, 3, 1000])
def test_ties_broken_by_the_round_hash(r: int) -> None:
    stakes = {**dict.fromkeys(A[:20], FED), **dict.fromkeys(A[20:24], 2 * FED)}
    got = slash_list(stakes, r, 16)
    assert got == top_by_priority(stakes, r, 16)
    assert set(A[20:24]) <= set(got)  # larger stakes always kept
    assert len(got) == 16 and got == numeric(got)


def test_the_hash_order_moves_with_the_round() -> None:
    stakes = dict.fromkeys(A[:20], FED)
    assert len({tuple(slash_list(stakes, r, 16)) for r in range(1, 6)}) > 1


def test_same_list_whatever_the_input_order_or_case() -> None:
    stakes = {a: (i % 3 + 1) * FED for i, a in enumerate(A[:30])}
    want = slash_list(stakes, 9, 16)
    rng = random.Random(0)
    for _ in range(5):
        keys = list(stakes)
        rng.shuffle(keys)
        mixed = {(k.lower() if rng.random() < 0.5 else k): stakes[k] for k in keys}
        assert slash_list(mixed, 9, 16) == want
    assert all(a == to_checksum_address(a) for a in want)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="twice"):
        slash_list({A[0]: 1, A[0].lower(): 1}, 1, 16)
    with pytest.raises(ValueError, match="cap"):
        slash_list({}, 1, -1)


class FakeChain:
    """The two reads the round makes: MAX_SLASH and stakeAtOpen."""

    def __init__(self, stakes: dict[str, int]) -> None:
        self.stakes = stakes
        self.stake_reads = 0

    def max_slash(self) -> int:
        return 16

    def stake_at_open(self, r: int, address: str) -> int:
        self.stake_reads += 1
        return self.stakes[address]


class FakeContext:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    @property
    def chain_port(self) -> ChainPort:
        return ChainPort(self.chain, ChainLink(Metrics()))  # type: ignore[arg-type]


def test_the_round_slashes_capped_invalid_authors_never_withheld_ones() -> None:
    from node.vote import choose_slash

    sybils = {a: FED for a in A[:20]}
    chain = FakeChain({**sybils, A[20]: 3 * FED})
    rejected = {a: "malformed" for a in A[:20]} | {A[20]: "norm_bound", A[21]: "unavailable"}
    got = trio.run(choose_slash, FakeContext(chain), 5, rejected)
    assert got == slash_list({**sybils, A[20]: 3 * FED}, 5, 16)
    assert A[20] in got and A[21] not in got and len(got) == 16

    few = FakeChain({})
    got = trio.run(choose_slash, FakeContext(few), 5, {A[0]: "cid_mismatch", A[1]: "unavailable"})
    assert got == [A[0]] and few.stake_reads == 0  # under the cap no stake is read
