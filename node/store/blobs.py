"""Blobs as DAGs of blocks: store one, check one is complete, reassemble one.

``assemble`` is shared by local reads and network fetches: it asks a ``fetch``
callback for the blocks of one tree level at a time and checks each against the
shape that the canonical (Kubo) layout dictates for the declared file size, so a
peer cannot make us download more than ``max_size`` bytes or an odd-shaped DAG.
The reassembled bytes must hash back to the requested CID (``compute_cid``).
"""

from __future__ import annotations

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


def _check_node(
    cid: bytes, block: bytes, tree: Tree, sizes: list[int]
) -> tuple[list[bytes], bytes | None]:
    """Validate one block against its expected place in the tree.

    Returns (child CIDs, None) for an internal node and ([], chunk) for a leaf. A leaf
    is a raw block (``--raw-leaves``, what ``--cid-version=1`` implies) or a dag-pb
    UnixFS leaf holding its chunk (plain ``ipfs add``, CIDv0).
    """
    codec = parse_cid(cid).codec
    name = _name(cid)
    if isinstance(tree, int):
        if codec == CODEC_RAW:
            chunk = block
        elif codec == CODEC_DAG_PB:
            leaf = dagpb.decode_file_node(block)
            if leaf.links or leaf.filesize != len(leaf.data):
                raise ContentError(f"leaf {name} is not a UnixFS leaf")
            chunk = leaf.data
        else:
            raise ContentError(f"leaf {name} has unsupported codec 0x{codec:x}")
        if len(chunk) != sizes[tree]:
            raise ContentError(f"leaf {name} has {len(chunk)} bytes, expected {sizes[tree]}")
        return [], chunk
    if codec != CODEC_DAG_PB:
        raise ContentError(f"internal node {name} is not dag-pb")
    node = dagpb.decode_file_node(block)
    expected = [tree_filesize(child, sizes) for child in tree]
    if node.data or list(node.blocksizes) != expected:
        raise ContentError(f"node {name} does not have the canonical layout")
    return [link.cid for link in node.links], None


def _name(cid: bytes) -> str:
    return cid_from_bytes(cid) if cid[:1] == b"\x01" else "v0:" + cid.hex()


async def assemble(root: bytes, fetch: FetchBlocks, max_size: int) -> bytes:
    """Reassemble the blob ``root`` from blocks that ``fetch`` supplies.

    Our own blobs are CIDv1 with raw leaves; DAGs that plain ``ipfs add`` makes (CIDv0
    links, UnixFS leaves) are accepted too, so content added by any Kubo can be read.
    Either way the result must rebuild, with the same chunker and balanced layout, to
    exactly ``root``. Raises ContentError for oversize, malformed, non-canonical or
    mismatching content.
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
    root_node = dagpb.decode_file_node(root_block)
    filesize = root_node.filesize
    if filesize > max_size:
        raise ContentError(f"blob {root_name} declares {filesize} bytes > {max_size}")
    sizes = chunk_sizes(filesize)
    tree = balanced_tree(len(sizes))
    links_v0 = bool(root_node.links) and parse_cid(root_node.links[0].cid).version == 0

    leaves: dict[int, bytes] = {}
    leaf_codecs: set[int] = set()
    level: list[tuple[bytes, Tree]] = [(root, tree)]
    blocks: dict[bytes, bytes] = {root: root_block}
    while level:
        missing = [cid for cid, _ in level if cid not in blocks]
        if missing:
            blocks = await fetch(missing)
        next_level: list[tuple[bytes, Tree]] = []
        for cid, subtree in level:
            block = blocks[cid]
            if not block_matches(cid, block):
                raise ContentError(f"block does not match its CID {_name(cid)}")
            children, chunk = _check_node(cid, block, subtree, sizes)
            if isinstance(subtree, int):
                assert chunk is not None
                leaves[subtree] = chunk
                leaf_codecs.add(parse_cid(cid).codec)
            else:
                next_level.extend(zip(children, subtree, strict=True))
        level = next_level
        blocks = {}
    data = b"".join(leaves[i] for i in range(len(sizes)))
    raw_leaves = leaf_codecs == {CODEC_RAW}
    if raw_leaves and len(sizes) == 1:
        raise ContentError(f"blob {root_name}: a single raw chunk must be the root itself")
    rebuilt = build_dag(data, cid_version=0 if links_v0 else 1, raw_leaves=raw_leaves).root
    if len(leaf_codecs) != 1 or parse_cid(rebuilt).digest != parse_cid(root).digest:
        raise ContentError(f"blob {root_name} is not in the canonical encoding")
    return data


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
