"""Peer ids: base58 text <-> raw multihash bytes stored on chain."""

from __future__ import annotations

import pytest

from node.chain.peer import b58decode, b58encode, peer_id_from_bytes, peer_id_to_bytes

ED25519_PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
RSA_PEER = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"


def test_known_base58_vectors() -> None:
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    assert b58decode("StV1DL6CwTryKyV") == b"hello world"
    assert b58encode(b"\0\0\x01") == "112"
    assert b58decode("112") == b"\0\0\x01"
    assert b58encode(b"") == ""


def test_ed25519_peer_id_is_identity_multihash() -> None:
    raw = peer_id_to_bytes(ED25519_PEER)
    assert raw[:2] == b"\x00\x24" and len(raw) == 38
    assert peer_id_from_bytes(raw) == ED25519_PEER


def test_sha256_peer_id() -> None:
    raw = peer_id_to_bytes(RSA_PEER)
    assert raw[:2] == b"\x12\x20" and len(raw) == 34
    assert peer_id_from_bytes(raw) == RSA_PEER


@pytest.mark.parametrize("bad", ["0OIl", "not a peer", "StV1DL6CwTryKyV"])
def test_rejects_non_peer_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        peer_id_to_bytes(bad)
