"""Blobs as DAGs of blocks: store one, check one is complete, reassemble one.

``assemble`` is shared by local reads and network fetches: it asks a ``fetch``
callback for the blocks of one tree level at a time and checks each against the
shape that the canonical (Kubo) layout dictates for the declared file size, so a
peer cannot make us download more than ``max_size`` bytes or an odd-shaped DAG.
The reassembled bytes must hash back to the requested CID (``compute_cid``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from node.errors import ContentError
from node.store import dagpb
from node.store.blockstore import BlockStore
from node.store.cid import (
    CHUNK_SIZE,
    CODEC_DAG_PB,
    CODEC_RAW,
    Tree,
    balanced_tree,
    block_matches,
    build_dag,
    chunk_sizes,
    parse_cid,
    tree_filesize,
)
from node.types import Cid, cid_from_bytes

# Fetch the given blocks; returns every one of them (raises if it cannot).
FetchBlocks = Callable[[list[bytes]], Awaitable[dict[bytes, bytes]]]


def put_blob(store: BlockStore, data: bytes) -> tuple[Cid, list[tuple[bytes, bytes]]]:
    """Store every block of ``data``; returns its CID and the (cid, block) pairs."""
    dag = build_dag(data)
    for cid, block in dag.blocks:
        store.put(cid, block)
    return cid_from_bytes(dag.root), dag.blocks


def is_complete(store: BlockStore, cid: bytes) -> bool:
    """True when the block ``cid`` and everything below it is in ``store``."""
    try:
        codec = parse_cid(cid).codec
    except ContentError:
        return False
    if codec == CODEC_RAW:
        return store.has(cid)
    block = store.get(cid)
    if block is None:
        return False
    try:
        node = dagpb.decode_file_node(block)
    except ContentError:
        return False
    return all(is_complete(store, link.cid) for link in node.links)


# Blocks asked of ``fetch`` at once (at most this many leaves, 64 MiB, are in flight).
FETCH_BATCH = 32


def _name(cid: bytes) -> str:
    return cid_from_bytes(cid) if cid[:1] == b"\x01" else "v0:" + cid.hex()


class _Shape:
    """The encoding choices a DAG made, which must hold throughout one DAG."""

    def __init__(self) -> None:
        self.link_version: int | None = None
        self.leaf_codec: int | None = None

    def check_link(self, cid: bytes, is_leaf: bool) -> None:
        parsed = parse_cid(cid)
        if self.link_version is None:
            self.link_version = parsed.version
        if parsed.version != self.link_version:
            raise ContentError(f"{_name(cid)}: CIDv0 and CIDv1 links mixed in one DAG")
        if not is_leaf:
            if parsed.codec != CODEC_DAG_PB:
                raise ContentError(f"internal node {_name(cid)} is not dag-pb")
            return
        if self.leaf_codec is None:
            self.leaf_codec = parsed.codec
        if parsed.codec != self.leaf_codec:
            raise ContentError(f"leaf {_name(cid)}: raw and UnixFS leaves mixed in one DAG")


def _leaf_chunk(cid: bytes, block: bytes, size: int) -> bytes:
    """The chunk a leaf holds: a raw block (``--raw-leaves``, implied by
    ``--cid-version=1``) or a dag-pb UnixFS leaf (plain ``ipfs add``, CIDv0)."""
    codec = parse_cid(cid).codec
    name = _name(cid)
    if codec == CODEC_RAW:
        chunk = block
    elif codec == CODEC_DAG_PB:
        leaf = dagpb.decode_file_node(block)
        if leaf.links or leaf.filesize != len(leaf.data):
            raise ContentError(f"leaf {name} is not a UnixFS leaf")
        chunk = leaf.data
        if dagpb.encode_file_leaf(chunk) != block:
            raise ContentError(f"leaf {name} is not in the canonical encoding")
    else:
        raise ContentError(f"leaf {name} has unsupported codec 0x{codec:x}")
    if len(chunk) != size:
        raise ContentError(f"leaf {name} has {len(chunk)} bytes, expected {size}")
    return chunk


def _internal_links(
    cid: bytes, block: bytes, tree: list[Tree], sizes: list[int]
) -> list[dagpb.Link]:
    """Links of an internal node, checked against the canonical layout and encoding."""
    name = _name(cid)
    if parse_cid(cid).codec != CODEC_DAG_PB:
        raise ContentError(f"internal node {name} is not dag-pb")
    node = dagpb.decode_file_node(block)
    expected = [tree_filesize(child, sizes) for child in tree]
    if node.data or list(node.blocksizes) != expected or len(node.links) != len(tree):
        raise ContentError(f"node {name} does not have the canonical layout")
    canonical = dagpb.encode_file_node(
        [dagpb.Link(cid=link.cid, tsize=link.tsize) for link in node.links],
        filesize=sum(expected),
        blocksizes=expected,
    )
    if canonical != block:
        raise ContentError(f"node {name} is not in the canonical encoding")
    return list(node.links)


async def assemble(root: bytes, fetch: FetchBlocks, max_size: int) -> bytes:
    """Reassemble the blob ``root`` from blocks that ``fetch`` supplies.

    Our own blobs are CIDv1 with raw leaves; DAGs that plain ``ipfs add`` makes (CIDv0
    links, UnixFS leaves) are accepted too, so content added by any Kubo can be read.
    Every block must hash to its CID, sit where the balanced layout for the declared
    size puts it, and be encoded exactly as ``ipfs add`` encodes it (link sizes
    included), so one blob has exactly one CID and nobody can make us download more
    than ``max_size`` bytes. Blocks are asked for level by level, in tree order, at most
    ``FETCH_BATCH`` at a time. Raises ContentError for oversize, malformed,
    non-canonical or mismatching content.
    """
    root_name = _name(root)
    codec = parse_cid(root).codec
    root_block = (await fetch([root]))[root]
    if not block_matches(root, root_block):
        raise ContentError(f"block does not match its CID {root_name}")
    if codec == CODEC_RAW:
        if len(root_block) > max_size:
            raise ContentError(f"blob {root_name} is {len(root_block)} bytes > {max_size}")
        if len(root_block) > CHUNK_SIZE:
            raise ContentError(f"blob {root_name} is a raw block larger than one chunk")
        return root_block
    if codec != CODEC_DAG_PB:
        raise ContentError(f"blob {root_name} has unsupported codec 0x{codec:x}")
    filesize = dagpb.decode_file_node(root_block).filesize
    if filesize > max_size:
        raise ContentError(f"blob {root_name} declares {filesize} bytes > {max_size}")
    sizes = chunk_sizes(filesize)
    tree = balanced_tree(len(sizes))
    if isinstance(tree, int):
        if parse_cid(root).codec == CODEC_RAW:  # pragma: no cover - handled above
            return root_block
        return _leaf_chunk(root, root_block, sizes[0])

    shape = _Shape()
    chunks: list[bytes] = [b""] * len(sizes)
    # (cid, subtree, Tsize its parent declared)
    level: list[tuple[bytes, Tree, int]] = []
    for link, child in zip(_internal_links(root, root_block, tree, sizes), tree, strict=True):
        shape.check_link(link.cid, isinstance(child, int))
        level.append((link.cid, child, link.tsize))
    while level:
        next_level: list[tuple[bytes, Tree, int]] = []
        for start in range(0, len(level), FETCH_BATCH):
            part = level[start : start + FETCH_BATCH]
            blocks = await fetch([cid for cid, _, _ in part])
            for cid, subtree, tsize in part:
                block = blocks[cid]
                if not block_matches(cid, block):
                    raise ContentError(f"block does not match its CID {_name(cid)}")
                if isinstance(subtree, int):
                    chunks[subtree] = _leaf_chunk(cid, block, sizes[subtree])
                    subtree_size = len(block)
                else:
                    links = _internal_links(cid, block, subtree, sizes)
                    for link, child in zip(links, subtree, strict=True):
                        shape.check_link(link.cid, isinstance(child, int))
                        next_level.append((link.cid, child, link.tsize))
                    subtree_size = len(block) + sum(link.tsize for link in links)
                if subtree_size != tsize:
                    raise ContentError(f"link to {_name(cid)} has the wrong Tsize")
            del blocks
        level = next_level
    if shape.leaf_codec == CODEC_RAW and shape.link_version != 1:  # pragma: no cover
        raise ContentError(f"blob {root_name}: raw leaves need CIDv1")
    return b"".join(chunks)


async def read_blob(store: BlockStore, root: bytes, max_size: int) -> bytes | None:
    """The blob from local blocks only, or None if any block is missing."""

    class _Missing(Exception):
        pass

    async def local(cids: list[bytes]) -> dict[bytes, bytes]:
        out: dict[bytes, bytes] = {}
        for cid in cids:
            block = store.get(cid)
            if block is None:
                raise _Missing
            out[cid] = block
        return out

    try:
        return await assemble(root, local, max_size)
    except _Missing:
        return None


def reachable(store: BlockStore, roots: list[bytes]) -> set[bytes]:
    """Every block CID under ``roots`` that is present in ``store``."""
    seen: set[bytes] = set()
    stack = list(roots)
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        try:
            codec = parse_cid(cid).codec
        except ContentError:
            continue
        block = store.get(cid)
        if block is None:
            continue
        seen.add(cid)
        if codec == CODEC_DAG_PB:
            with contextlib.suppress(ContentError):
                stack.extend(link.cid for link in dagpb.decode_file_node(block).links)
    return seen


def collect_garbage(store: BlockStore, keep: list[bytes]) -> int:
    """Delete every block not under one of the ``keep`` roots; returns how many went.

    The caller keeps the finalized models (pinned) and the rounds still in play; a
    blob of an old round is gone once no kept root shares its blocks.
    """
    live = reachable(store, keep)
    removed = 0
    for cid in list(store.all_cids()):
        if cid not in live:
            store.delete(cid)
            removed += 1
    return removed
