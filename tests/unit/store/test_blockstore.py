from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from node.errors import ContentError
from node.store.blockstore import MAX_BLOCK_SIZE, BlockStore
from node.store.cid import CODEC_DAG_PB, CODEC_RAW, make_cid


def test_put_get_roundtrip_and_persistence(tmp_path: Path) -> None:
    block = b"some block"
    cid = make_cid(CODEC_RAW, block)
    store = BlockStore(tmp_path / "blocks")
    assert not store.has(cid)
    assert store.get(cid) is None
    assert store.put(cid, block) is True
    assert store.put(cid, block) is False  # already there
    assert store.has(cid)
    assert store.get(cid) == block
    assert len(store) == 1
    # a new instance on the same directory sees it (survives restarts)
    assert BlockStore(tmp_path / "blocks").get(cid) == block


def test_put_refuses_a_block_that_does_not_match_its_cid(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    cid = make_cid(CODEC_RAW, b"the real block")
    with pytest.raises(ContentError, match="does not match"):
        store.put(cid, b"an impostor")
    assert not store.has(cid)
    assert len(store) == 0


def test_put_refuses_oversize_blocks_and_bad_cids(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    big = bytes(MAX_BLOCK_SIZE + 1)
    with pytest.raises(ContentError, match="exceeds"):
        store.put(make_cid(CODEC_RAW, big), big)
    # a CID whose multihash is not sha2-256 (0x13 = sha2-512)
    sha512 = b"\x01\x55\x13\x40" + hashlib.sha512(b"x").digest()
    with pytest.raises(ContentError, match="multihash"):
        store.put(sha512, b"x")


def test_corrupted_file_on_disk_reads_as_missing(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    block = b"node bytes"
    cid = make_cid(CODEC_DAG_PB, block)
    store.put(cid, block)
    [path] = [p for p in tmp_path.glob("*/*")]
    path.write_bytes(b"bit rot")
    assert store.get(cid) is None
    assert not store.has(cid)  # removed, so a fetch can restore it


def test_cidv0_keys_are_supported(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    block = b"\x0a\x04\x08\x02\x18\x00"  # the empty UnixFS file
    cid = make_cid(CODEC_DAG_PB, block, version=0)
    store.put(cid, block)
    assert store.get(cid) == block
