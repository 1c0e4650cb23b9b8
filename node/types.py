"""Small shared value types and the CID string <-> bytes conversion.

CIDs travel as strings (multibase base32, the ``b...`` form Kubo prints for CIDv1)
everywhere in Python and as raw binary CID bytes on chain.
"""

from __future__ import annotations

import base64
from typing import NewType

RoundId = NewType("RoundId", int)
Cid = NewType("Cid", str)
Address = NewType("Address", str)

_MULTIBASE_BASE32 = "b"


def cid_to_bytes(cid: str) -> bytes:
    """Binary form of a base32 CIDv1 string (``b`` + RFC 4648 lower case, no padding)."""
    if not cid.startswith(_MULTIBASE_BASE32):
        raise ValueError(f"not a base32 CIDv1 string: {cid!r}")
    body = cid[1:].upper()
    body += "=" * (-len(body) % 8)
    raw = base64.b32decode(body)
    if not raw or raw[0] != 0x01:
        raise ValueError(f"not a CIDv1: {cid!r}")
    return raw


def cid_from_bytes(raw: bytes) -> Cid:
    """base32 CIDv1 string of binary CID bytes."""
    if not raw or raw[0] != 0x01:
        raise ValueError("not a binary CIDv1")
    return Cid(_MULTIBASE_BASE32 + base64.b32encode(raw).decode().lower().rstrip("="))
