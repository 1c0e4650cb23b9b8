from __future__ import annotations

import pytest

from node.errors import ContentError
from node.store import dagpb
from node.store.cid import CODEC_RAW, make_cid


def test_file_node_roundtrip() -> None:
    links = [dagpb.Link(make_cid(CODEC_RAW, b"a"), 1), dagpb.Link(make_cid(CODEC_RAW, b"bc"), 2)]
    block = dagpb.encode_file_node(links, filesize=3, blocksizes=[1, 2])
    node = dagpb.decode_file_node(block)
    assert node.links == tuple(links)
    assert node.filesize == 3
    assert node.blocksizes == (1, 2)
    assert node.unixfs_type == dagpb.UNIXFS_FILE
    assert node.data == b""


def test_leaf_roundtrip_and_empty_file_bytes() -> None:
    assert dagpb.encode_file_leaf(b"") == bytes.fromhex("0a0408021800")
    node = dagpb.decode_file_node(dagpb.encode_file_leaf(b"hi"))
    assert (node.data, node.filesize, node.links) == (b"hi", 2, ())


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"", "no UnixFS data"),
        (b"\x0a", "truncated"),
        (b"\x0a\x05\x08\x02", "truncated"),
        (b"\x1a\x00", "unexpected node field"),  # field 3 does not exist in PBNode
        (b"\x0d\x00\x00\x00\x00", "wire type"),  # fixed32
        (bytes.fromhex("0a0408011800"), "not a file"),  # a directory
        (bytes.fromhex("0a06080218052005"), "blocksizes do not match links"),
        (bytes.fromhex("0a0408021805"), "filesize 5"),  # claims 5 bytes, holds none
        (b"\x12\x00" + bytes.fromhex("0a0408021800"), "link without hash"),
    ],
)
def test_decode_rejects_malformed_blocks(block: bytes, message: str) -> None:
    with pytest.raises(ContentError, match=message):
        dagpb.decode_file_node(block)


def test_decode_rejects_links_after_data() -> None:
    leaf = dagpb.encode_file_leaf(b"")
    link = dagpb.encode_node([dagpb.Link(make_cid(CODEC_RAW, b""), 0)], None)
    with pytest.raises(ContentError, match="links after data"):
        dagpb.decode_file_node(leaf + link)
