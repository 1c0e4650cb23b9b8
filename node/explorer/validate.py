"""Path parameters as the pages accept them; ``BadInput`` (a 400 page) otherwise."""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_ROUND = re.compile(r"^[0-9]{1,19}$")  # ASCII digits only (str.isdigit takes others)
MAX_ROUND = 2**63 - 1


class BadInput(ValueError):
    """A malformed round number, address or CID."""


def parse_round(text: str) -> int:
    if not _ROUND.match(text) or not 1 <= int(text) <= MAX_ROUND:
        raise BadInput(f"{text[:80]!r} is not a round number (a whole number from 1)")
    return int(text)


def parse_address(text: str) -> str:
    if not _ADDRESS.match(text):
        raise BadInput(f"{text[:80]!r} is not an address (0x and 40 hex digits)")
    return text.lower()


def parse_cid(text: str) -> str:
    from node.store.cid import parse_cid_str

    try:
        parse_cid_str(text)
    except Exception:  # noqa: BLE001 - any decoding failure means the same to a visitor
        raise BadInput(f"{text[:80]!r} is not a CID (CIDv1, base32: bafy...)") from None
    return text
