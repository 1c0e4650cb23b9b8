"""Which offenders a vote slashes: at most the contract's ``MAX_SLASH``, chosen alike by
every honest node from chain data only (the slash list is part of the outcome voted on).

More offenders than the cap (e.g. sybils committing malformed updates): the largest
stakes at the round's opening first (slashing them hurts an attacker most), then
``keccak256(abi.encode(uint256 round, address))`` ascending: an order that changes every
round, so no address can be ground to escape in all of them. The rest stay unslashed this
round; if they keep committing they are picked in later rounds (a slashed stake drops or
is deactivated, and the hash order moves on). A list the contract would refuse
(``SlashListTooLong``) would stop every honest vote, so the cap is never exceeded.
"""

from __future__ import annotations

from collections.abc import Mapping

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def slash_priority(r: int, address: str) -> bytes:
    """The tie-break among equal stakes in round ``r``: keccak256(abi.encode(r, address))."""
    return keccak(encode(["uint256", "address"], [r, to_checksum_address(address)]))


def slash_list(offenders: Mapping[str, int], r: int, cap: int) -> list[str]:
    """Checksum addresses to slash in round ``r``, in the contract's order (strictly
    ascending as uint160).

    ``offenders``: address -> stake at the round's opening. When there are more than
    ``cap``, the ``cap`` first by (stake descending, ``slash_priority`` ascending) are kept.
    """
    if cap < 0:
        raise ValueError(f"slash cap must be >= 0, got {cap}")
    stakes: dict[str, int] = {}
    for address, stake in offenders.items():
        key = to_checksum_address(address)
        if key in stakes:
            raise ValueError(f"offender {key} listed twice (addresses differ only in case)")
        stakes[key] = int(stake)
    kept = list(stakes)
    if len(kept) > cap:
        kept.sort(key=lambda a: (-stakes[a], slash_priority(r, a)))
        kept = kept[:cap]
    return sorted(kept, key=lambda a: int(a, 16))
