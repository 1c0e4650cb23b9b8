"""Storing and reassembling blobs from local blocks, and what ``assemble`` refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from node.errors import ContentError
from node.store import blobs, dagpb
from node.store.blockstore import BlockStore
from node.store.cid import (
    CHUNK_SIZE,
    CODEC_DAG_PB,
    CODEC_RAW,
    build_dag,
    compute_cid,
    make_cid,
)
from node.types import cid_to_bytes

MIB = 2**20


def pattern(n: int) -> bytes:
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n // 32 + 1))[:n]


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * MIB + 7])
def test_put_and_read_back(tmp_path: Path, size: int) -> None:
    store = BlockStore(tmp_path)
    data = pattern(size)
    cid, _ = blobs.put_blob(store, data)
    assert cid == compute_cid(data)
    assert blobs.is_complete(store, cid_to_bytes(cid))
    assert trio.run(blobs.read_blob, store, cid_to_bytes(cid), 64 * MIB) == data


def test_missing_leaf_makes_blob_incomplete(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    data = pattern(2 * MIB)
    cid, blocks = blobs.put_blob(store, data)
    store.delete(blocks[3][0])
    root = cid_to_bytes(cid)
    assert not blobs.is_complete(store, root)
    assert trio.run(blobs.read_blob, store, root, 64 * MIB) is None


def test_oversize_is_refused_from_the_root_alone(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    cid, blocks = blobs.put_blob(store, pattern(2 * MIB))
    for block_cid, _ in blocks[:-1]:
        store.delete(block_cid)  # only the root is left: the size is declared there
    with pytest.raises(ContentError, match="declares 2097152 bytes > 1048576"):
        trio.run(blobs.read_blob, store, cid_to_bytes(cid), MIB)


def _store_root(store: BlockStore, block: bytes) -> bytes:
    cid = make_cid(CODEC_DAG_PB, block)
    store.put(cid, block)
    return cid


def test_non_canonical_dags_are_refused(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    # 1) a small file wrapped in a dag-pb node instead of a single raw block
    leaf = b"tiny"
    store.put(make_cid(CODEC_RAW, leaf), leaf)
    wrapped = dagpb.encode_file_node([dagpb.Link(make_cid(CODEC_RAW, leaf), 4)], 4, [4])
    with pytest.raises(ContentError, match="not a UnixFS leaf"):
        trio.run(blobs.read_blob, store, _store_root(store, wrapped), MIB)

    # 2) the right size cut into the wrong chunks (1 byte + the rest)
    data = pattern(CHUNK_SIZE + 1)
    parts = [data[:1], data[1:]]
    for part in parts:
        store.put(make_cid(CODEC_RAW, part), part)
    odd = dagpb.encode_file_node(
        [dagpb.Link(make_cid(CODEC_RAW, p), len(p)) for p in parts], len(data), [1, CHUNK_SIZE]
    )
    with pytest.raises(ContentError, match="canonical layout"):
        trio.run(blobs.read_blob, store, _store_root(store, odd), MIB)

    # 3) a leaf whose length differs from what its parent declares
    data = pattern(CHUNK_SIZE + 10)
    chunks = [data[:CHUNK_SIZE], data[CHUNK_SIZE:] + b"!"]  # last leaf one byte too long
    for chunk in chunks:
        store.put(make_cid(CODEC_RAW, chunk), chunk)
    lying = dagpb.encode_file_node(
        [dagpb.Link(make_cid(CODEC_RAW, c), len(c)) for c in chunks], len(data), [CHUNK_SIZE, 10]
    )
    with pytest.raises(ContentError, match="has 11 bytes, expected 10"):
        trio.run(blobs.read_blob, store, _store_root(store, lying), MIB)


def test_raw_block_larger_than_a_chunk_is_refused(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    big = pattern(CHUNK_SIZE + 1)
    cid = make_cid(CODEC_RAW, big)
    store.put(cid, big)
    with pytest.raises(ContentError, match="larger than one chunk"):
        trio.run(blobs.read_blob, store, cid, MIB)


def test_fetch_callback_returning_wrong_bytes_is_caught() -> None:
    data = pattern(CHUNK_SIZE * 2)
    dag = build_dag(data)
    store_blocks, root = dict(dag.blocks), dag.root

    async def evil(cids: list[bytes]) -> dict[bytes, bytes]:
        return {c: (store_blocks[c] if c == root else b"x" * CHUNK_SIZE) for c in cids}

    with pytest.raises(ContentError, match="does not match its CID"):
        trio.run(blobs.assemble, root, evil, MIB)


def test_plain_ipfs_add_dags_are_read(tmp_path: Path) -> None:
    """DAGs as plain `ipfs add` makes them (CIDv0 links, UnixFS leaves) reassemble."""
    from node.store.cid import build_dag

    for size in (0, 5, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7):
        store = BlockStore(tmp_path / str(size))
        data = pattern(size)
        dag = build_dag(data, cid_version=0, raw_leaves=False)
        for cid, block in dag.blocks:
            store.put(cid, block)
        assert trio.run(blobs.read_blob, store, dag.root, MIB) == data
        # the same blocks under a CIDv1 name of the root
        v1_root = b"\x01\x70" + dag.root
        store.put(v1_root, dag.blocks[-1][1])
        assert trio.run(blobs.read_blob, store, v1_root, MIB) == data


def test_garbage_collection_keeps_pinned_roots(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    keep, _ = blobs.put_blob(store, pattern(3 * CHUNK_SIZE + 5))
    drop, _ = blobs.put_blob(store, bytes(2 * CHUNK_SIZE + 9))
    small, _ = blobs.put_blob(store, b"tiny")
    from node.store.cid import parse_cid_str

    removed = blobs.collect_garbage(store, [parse_cid_str(keep)])
    assert removed == 3 + 1  # two distinct leaves (zeros repeat) + root, and the tiny blob
    assert trio.run(blobs.read_blob, store, parse_cid_str(keep), MIB) == pattern(3 * CHUNK_SIZE + 5)
    assert not blobs.is_complete(store, parse_cid_str(drop))
    assert not blobs.is_complete(store, parse_cid_str(small))
