"""libp2p peer ids on chain: the base58btc text form <-> the raw multihash bytes."""

from __future__ import annotations

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


def b58encode(raw: bytes) -> str:
    """Bitcoin-alphabet base58 of ``raw`` (leading zero bytes become ``1``s)."""
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    n = int.from_bytes(raw, "big")
    out = []
    while n:
        n, rem = divmod(n, 58)
        out.append(_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; ``ValueError`` on a character outside the alphabet."""
    n = 0
    for ch in text:
        try:
            n = n * 58 + _INDEX[ch]
        except KeyError:
            raise ValueError(f"not base58: {text!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def peer_id_to_bytes(peer_id: str) -> bytes:
    """Raw multihash bytes of a base58 peer id (``12D3KooW...`` or ``Qm...``)."""
    raw = b58decode(peer_id)
    if len(raw) < 2 or raw[1] != len(raw) - 2:
        raise ValueError(f"not a multihash peer id: {peer_id!r}")
    return raw


def peer_id_from_bytes(raw: bytes) -> str:
    """Base58 text form of raw multihash peer id bytes."""
    return b58encode(raw)
