"""Content identifiers, exactly as Kubo's ``ipfs add --cid-version=1`` makes them.

A blob is cut into 262144-byte chunks. Each chunk is a *raw* block (CIDv1, codec
``raw``, sha2-256). One chunk: that raw block is the blob. More: the chunks hang
under dag-pb UnixFS file nodes (CIDv1, codec ``dag-pb``) arranged by go-unixfs'
*balanced* layout (at most 174 links a node, the tree grown by making the full root
the first child of a new root). ``compute_cid`` is a pure function of the bytes.

Binary CIDs, multihashes and base58 come from the multiformats libraries libp2p
installs (py-cid, py-multihash, py-multicodec, base58); this module keeps only what
fedchain adds: sha2-256 only, strict parsing, canonical strings, the balanced layout.
CIDs travel as strings (base32 ``b...``); see ``node.types`` for the conversions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeAlias

import base58
import multicodec
import multihash
from cid import CIDv0, from_bytes_strict
from cid import make_cid as _build_cid

from node.errors import ContentError
from node.store import dagpb
from node.types import Cid, cid_from_bytes, cid_to_bytes

CHUNK_SIZE = 262144
MAX_LINKS = 174

CODEC_RAW = 0x55
CODEC_DAG_PB = 0x70
_CODEC_NAMES = {CODEC_RAW: "raw", CODEC_DAG_PB: "dag-pb"}
_SHA2_256 = 0x12
_SHA2_256_LEN = 32

# A balanced-layout tree: a leaf is its chunk index, an internal node a list of children.
Tree: TypeAlias = int | list["Tree"]


# -- binary CIDs ----------------------------------------------------------------------


def multihash_sha256(block: bytes) -> bytes:
    return bytes(multihash.encode(hashlib.sha256(block).digest(), _SHA2_256))


def make_cid(codec: int, block: bytes, *, version: int = 1) -> bytes:
    """Binary CID of ``block``: CIDv1 (``01 <codec> <multihash>``) or CIDv0 (multihash)."""
    if version == 0 and codec != CODEC_DAG_PB:
        raise ValueError("CIDv0 is dag-pb only")
    return bytes(_build_cid(version, _CODEC_NAMES[codec], multihash_sha256(block)).buffer)


@dataclass(frozen=True)
class ParsedCid:
    version: int
    codec: int
    digest: bytes


def _sha256_digest(mh: bytes, cid: bytes) -> bytes:
    try:
        decoded = multihash.decode(mh)
    except (ValueError, KeyError) as exc:
        raise ContentError(f"malformed multihash in CID {cid.hex()}: {exc}") from None
    if decoded.code != _SHA2_256 or len(decoded.digest) != _SHA2_256_LEN:
        raise ContentError(f"unsupported multihash 0x{decoded.code:x}/{decoded.length} in CID")
    return bytes(decoded.digest)


def parse_cid(cid: bytes) -> ParsedCid:
    """Split a binary CID; only sha2-256 CIDs are accepted."""
    if len(cid) == 34 and cid[0] == _SHA2_256 and cid[1] == _SHA2_256_LEN:
        return ParsedCid(version=0, codec=CODEC_DAG_PB, digest=_sha256_digest(cid, cid))
    if not cid or cid[0] != 0x01:
        raise ContentError(f"not a CIDv1: {cid.hex()}")
    try:
        parsed = from_bytes_strict(cid)
        codec = multicodec.extract_prefix(multicodec.get_prefix(parsed.codec))
    except (ValueError, KeyError, TypeError) as exc:
        raise ContentError(f"malformed CID {cid.hex()}: {exc}") from None
    return ParsedCid(version=1, codec=codec, digest=_sha256_digest(parsed.multihash, cid))


def block_matches(cid: bytes, block: bytes) -> bool:
    """True when ``block`` hashes to the digest in ``cid``."""
    return hashlib.sha256(block).digest() == parse_cid(cid).digest


def parse_cid_str(cid: str) -> bytes:
    """Binary form of a base32 CIDv1 string; ContentError when malformed or not canonical.

    Base32 has several spellings of the last character; only the canonical one (the
    one ``cid_from_bytes`` prints) is accepted, so one CID has exactly one string.
    """
    try:
        raw = cid_to_bytes(cid)
    except ValueError as exc:
        raise ContentError(f"invalid CID {cid!r}: {exc}") from exc
    parse_cid(raw)
    if cid_from_bytes(raw) != cid:
        raise ContentError(f"CID {cid!r} is not in canonical base32 form")
    return raw


def cid_v0_to_v1(cid: str) -> Cid:
    """The CIDv1 (dag-pb, base32) naming the same block as a CIDv0 ``Qm...`` string."""
    try:
        raw = base58.b58decode(cid)
    except ValueError as exc:
        raise ContentError(f"invalid CIDv0 {cid!r}") from exc
    if len(cid) != 46 or len(raw) != 34 or raw[:2] != bytes([_SHA2_256, _SHA2_256_LEN]):
        raise ContentError(f"invalid CIDv0 {cid!r}")
    _sha256_digest(raw, raw)
    return cid_from_bytes(bytes(CIDv0(raw).to_v1().buffer))


# -- balanced layout ------------------------------------------------------------------


def chunk_sizes(filesize: int) -> list[int]:
    """Sizes of the chunks of a ``filesize``-byte blob (one empty chunk for 0 bytes)."""
    if filesize == 0:
        return [0]
    full, rest = divmod(filesize, CHUNK_SIZE)
    return [CHUNK_SIZE] * full + ([rest] if rest else [])


def balanced_tree(n_leaves: int) -> Tree:
    """go-unixfs ``balanced.Layout`` over ``n_leaves`` chunks, as a tree of indices."""
    if n_leaves < 1:
        raise ValueError("a file has at least one leaf")
    leaves = iter(range(n_leaves))
    remaining = [n_leaves - 1]

    def take() -> int:
        remaining[0] -= 1
        return next(leaves)

    def fill(node: list[Tree], depth: int) -> list[Tree]:
        while len(node) < MAX_LINKS and remaining[0] > 0:
            node.append(take() if depth == 1 else fill([], depth - 1))
        return node

    root: Tree = next(leaves)
    depth = 1
    while remaining[0] > 0:
        root = fill([root], depth)
        depth += 1
    return root


def tree_filesize(tree: Tree, sizes: list[int]) -> int:
    if isinstance(tree, int):
        return sizes[tree]
    return sum(tree_filesize(child, sizes) for child in tree)


@dataclass(frozen=True)
class Dag:
    root: bytes  # binary CID of the root block
    blocks: list[tuple[bytes, bytes]]  # (binary CID, block) for every block, root last


def build_dag(data: bytes, *, cid_version: int = 1, raw_leaves: bool = True) -> Dag:
    """Every block of ``data`` as ``ipfs add`` makes it (default: --cid-version=1).

    ``cid_version=0, raw_leaves=False`` reproduces plain ``ipfs add`` (CIDv0); it exists
    so the layout can be checked against Kubo's CIDv0 outputs.
    """
    if raw_leaves and cid_version == 0:
        raise ValueError("raw leaves need CIDv1")
    sizes = chunk_sizes(len(data))
    blocks: list[tuple[bytes, bytes]] = []

    def emit(tree: Tree) -> tuple[bytes, int, int]:
        """(cid, tsize, filesize) of ``tree`` after appending its blocks."""
        if isinstance(tree, int):
            chunk = data[tree * CHUNK_SIZE : tree * CHUNK_SIZE + CHUNK_SIZE]
            if raw_leaves:
                block = chunk
                cid = make_cid(CODEC_RAW, block, version=cid_version)
            else:
                block = dagpb.encode_file_leaf(chunk)
                cid = make_cid(CODEC_DAG_PB, block, version=cid_version)
            blocks.append((cid, block))
            return cid, len(block), len(chunk)
        children = [emit(child) for child in tree]
        node = dagpb.encode_file_node(
            [dagpb.Link(cid=c, tsize=t) for c, t, _ in children],
            filesize=sum(f for _, _, f in children),
            blocksizes=[f for _, _, f in children],
        )
        cid = make_cid(CODEC_DAG_PB, node, version=cid_version)
        blocks.append((cid, node))
        return cid, len(node) + sum(t for _, t, _ in children), sum(f for _, _, f in children)

    root, _, _ = emit(balanced_tree(len(sizes)))
    return Dag(root=root, blocks=blocks)


def compute_cid(data: bytes) -> Cid:
    """CIDv1 string of ``data`` as ``ipfs add --cid-version=1`` prints it."""
    if len(data) <= CHUNK_SIZE:
        return cid_from_bytes(make_cid(CODEC_RAW, data))
    return cid_from_bytes(build_dag(data).root)
