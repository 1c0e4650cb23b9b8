"""Binary CID parsing on the multiformats libraries: strict, sha2-256 only."""

from __future__ import annotations

import hashlib

import pytest

from node.errors import ContentError
from node.store.cid import CODEC_DAG_PB, CODEC_RAW, cid_v0_to_v1, make_cid, parse_cid

DIGEST = hashlib.sha256(b"block").digest()
RAW = bytes([0x01, 0x55, 0x12, 0x20]) + DIGEST


def test_v1_and_v0_parse_to_codec_and_digest() -> None:
    assert make_cid(CODEC_RAW, b"block") == RAW
    parsed = parse_cid(RAW)
    assert (parsed.version, parsed.codec, parsed.digest) == (1, CODEC_RAW, DIGEST)
    v0 = make_cid(CODEC_DAG_PB, b"block", version=0)
    assert v0 == bytes([0x12, 0x20]) + DIGEST
    assert (parse_cid(v0).version, parse_cid(v0).codec) == (0, CODEC_DAG_PB)
    with pytest.raises(ValueError, match="dag-pb only"):
        make_cid(CODEC_RAW, b"block", version=0)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        RAW[:-1],  # truncated digest
        RAW + b"\x00",  # trailing byte
        b"\x02" + RAW[1:],  # CID version 2
        bytes([0x01, 0x55, 0x11, 0x14]) + DIGEST[:20],  # sha1
        b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # runaway varint
        bytes([0x01, 0x55, 0x12]),  # multihash without length
    ],
)
def test_malformed_binary_cids_are_content_errors(bad: bytes) -> None:
    with pytest.raises(ContentError):
        parse_cid(bad)


def test_cid_v0_strings() -> None:
    v1 = cid_v0_to_v1("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")
    assert v1 == "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"
    for bad in ("Qm0OIl", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQ", "zb2rhcc1wJn2GHDLT2Y"):
        with pytest.raises(ContentError):
            cid_v0_to_v1(bad)
