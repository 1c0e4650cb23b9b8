"""DAG-PB + UnixFS protobuf codec for file nodes, written out by hand.

Only what a UnixFS *file* needs: a PBNode with links (``Hash``, ``Name``, ``Tsize``)
and a UnixFS ``Data`` message (``Type``, ``Data``, ``filesize``, ``blocksizes``).
The byte layout follows Kubo/boxo exactly (links first, then ``Data``; every link
carries an explicit empty ``Name``; ``filesize`` always present), so that the
blocks hash to the same CIDs as ``ipfs add``.

Decoding is strict: unknown fields, wrong wire types and trailing garbage are
rejected with ``ContentError``, because every block we decode came from a peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.errors import ContentError

UNIXFS_RAW = 0
UNIXFS_FILE = 2

_WIRE_VARINT = 0
_WIRE_LEN = 2


@dataclass(frozen=True)
class Link:
    cid: bytes  # binary CID (CIDv1 bytes, or a bare multihash for CIDv0)
    tsize: int  # cumulative size of the linked subtree's blocks
    name: str = ""


@dataclass(frozen=True)
class FileNode:
    links: tuple[Link, ...]
    unixfs_type: int
    data: bytes = b""
    filesize: int = 0
    blocksizes: tuple[int, ...] = field(default_factory=tuple)


# -- encoding -------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + encode_varint(len(payload)) + payload


def encode_unixfs(
    unixfs_type: int, data: bytes | None, filesize: int, blocksizes: list[int]
) -> bytes:
    """UnixFS ``Data`` message: Type=1, Data=2 (only if not None), filesize=3, blocksizes=4."""
    out = bytearray(b"\x08" + encode_varint(unixfs_type))
    if data is not None:
        out += _len_field(0x12, data)
    out += b"\x18" + encode_varint(filesize)
    for size in blocksizes:
        out += b"\x20" + encode_varint(size)
    return bytes(out)


def encode_node(links: list[Link], data: bytes | None) -> bytes:
    """PBNode: every ``Links`` entry (field 2) first, then ``Data`` (field 1)."""
    out = bytearray()
    for link in links:
        body = (
            _len_field(0x0A, link.cid)
            + _len_field(0x12, link.name.encode())
            + b"\x18"
            + encode_varint(link.tsize)
        )
        out += _len_field(0x12, body)
    if data is not None:
        out += _len_field(0x0A, data)
    return bytes(out)


def encode_file_node(links: list[Link], filesize: int, blocksizes: list[int]) -> bytes:
    """Internal node of a chunked file (no inline data)."""
    return encode_node(links, encode_unixfs(UNIXFS_FILE, None, filesize, blocksizes))


def encode_file_leaf(chunk: bytes) -> bytes:
    """Leaf wrapping its chunk in UnixFS (CIDv0 style, i.e. without raw leaves)."""
    data = chunk if chunk else None
    return encode_node([], encode_unixfs(UNIXFS_FILE, data, len(chunk), []))


# -- decoding -------------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ContentError("dag-pb: truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ContentError("dag-pb: varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field; only varint and LEN wire types."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            value, pos = _read_varint(buf, pos)
            out.append((number, wire, value))
        elif wire == _WIRE_LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise ContentError("dag-pb: truncated field")
            out.append((number, wire, buf[pos : pos + length]))
            pos += length
        else:
            raise ContentError(f"dag-pb: unsupported wire type {wire}")
    return out


def _decode_link(buf: bytes) -> Link:
    cid = b""
    name = ""
    tsize = 0
    for number, wire, value in _fields(buf):
        if number == 1 and wire == _WIRE_LEN and isinstance(value, bytes):
            cid = value
        elif number == 2 and wire == _WIRE_LEN and isinstance(value, bytes):
            try:
                name = value.decode()
            except UnicodeDecodeError as exc:
                raise ContentError("dag-pb: link name is not UTF-8") from exc
        elif number == 3 and wire == _WIRE_VARINT and isinstance(value, int):
            tsize = value
        else:
            raise ContentError(f"dag-pb: unexpected link field {number}")
    if not cid:
        raise ContentError("dag-pb: link without hash")
    return Link(cid=cid, tsize=tsize, name=name)


def decode_file_node(block: bytes) -> FileNode:
    """Parse a dag-pb block that must hold a UnixFS file (or raw) node."""
    links: list[Link] = []
    unixfs: bytes | None = None
    for number, wire, value in _fields(block):
        if number == 2 and wire == _WIRE_LEN and isinstance(value, bytes):
            if unixfs is not None:
                raise ContentError("dag-pb: links after data")
            links.append(_decode_link(value))
        elif number == 1 and wire == _WIRE_LEN and isinstance(value, bytes):
            if unixfs is not None:
                raise ContentError("dag-pb: duplicate data field")
            unixfs = value
        else:
            raise ContentError(f"dag-pb: unexpected node field {number}")
    if unixfs is None:
        raise ContentError("dag-pb: node has no UnixFS data")

    unixfs_type: int | None = None
    data = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for number, wire, value in _fields(unixfs):
        if number == 1 and wire == _WIRE_VARINT and isinstance(value, int):
            unixfs_type = value
        elif number == 2 and wire == _WIRE_LEN and isinstance(value, bytes):
            data = value
        elif number == 3 and wire == _WIRE_VARINT and isinstance(value, int):
            filesize = value
        elif number == 4 and wire == _WIRE_VARINT and isinstance(value, int):
            blocksizes.append(value)
        elif number == 4 and wire == _WIRE_LEN and isinstance(value, bytes):  # packed
            pos = 0
            while pos < len(value):
                size, pos = _read_varint(value, pos)
                blocksizes.append(size)
        elif number in (5, 6) and wire == _WIRE_VARINT:
            continue  # hashType / fanout: HAMT directories only, harmless here
        else:
            raise ContentError(f"unixfs: unexpected field {number}")
    if unixfs_type not in (UNIXFS_RAW, UNIXFS_FILE):
        raise ContentError(f"unixfs: not a file node (type {unixfs_type})")
    if len(blocksizes) != len(links):
        raise ContentError("unixfs: blocksizes do not match links")
    declared = len(data) + sum(blocksizes)
    if filesize is None:
        filesize = declared
    if filesize != declared:
        raise ContentError(f"unixfs: filesize {filesize} != data + blocksizes {declared}")
    return FileNode(
        links=tuple(links),
        unixfs_type=unixfs_type,
        data=data,
        filesize=filesize,
        blocksizes=tuple(blocksizes),
    )
