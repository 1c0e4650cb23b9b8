"""On-disk content-addressed block store (``<data_dir>/blocks``).

Content addressing is enforced at the boundary: ``put`` recomputes the hash and
refuses a block that does not match its CID; ``get`` re-checks what it reads back
and treats a corrupted file as missing (and removes it). Writes are atomic
(temporary file + rename), so a crash never leaves a half-written block under a
valid name. Files are sharded like Kubo's flatfs (next-to-last two characters).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from node.errors import ContentError
from node.store.cid import block_matches, parse_cid
from node.types import cid_from_bytes, cid_to_bytes

log = logging.getLogger(__name__)

# Larger than any block we make (256 KiB chunks, small dag-pb nodes); Bitswap's
# spec ceiling is 2 MiB.
MAX_BLOCK_SIZE = 2 * 2**20


class BlockStore:
    """Blocks keyed by binary CID, one file each."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, cid: bytes) -> Path:
        name = cid_from_bytes(cid) if cid[0] == 0x01 else "v0-" + cid.hex()
        return self.root / name[-3:-1] / name

    def has(self, cid: bytes) -> bool:
        return self._path(cid).is_file()

    def get(self, cid: bytes) -> bytes | None:
        """The block, or None when absent or corrupted on disk."""
        path = self._path(cid)
        try:
            block = path.read_bytes()
        except FileNotFoundError:
            return None
        if not block_matches(cid, block):
            log.warning("blockstore: %s is corrupted on disk; removing it", path.name)
            path.unlink(missing_ok=True)
            return None
        return block

    def put(self, cid: bytes, block: bytes) -> bool:
        """Store ``block`` under ``cid``; False if it was already there.

        Raises ContentError when the block does not hash to ``cid`` or is too large.
        """
        parse_cid(cid)
        if len(block) > MAX_BLOCK_SIZE:
            raise ContentError(f"block of {len(block)} bytes exceeds {MAX_BLOCK_SIZE}")
        if not block_matches(cid, block):
            raise ContentError(f"block does not match its CID {cid_from_bytes(cid)}")
        path = self._path(cid)
        if path.is_file():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(block)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def delete(self, cid: bytes) -> None:
        self._path(cid).unlink(missing_ok=True)

    def all_cids(self) -> list[bytes]:
        """The binary CID of every stored block."""
        out = []
        for path in self.root.glob("*/*"):
            name = path.name
            if name.startswith(".tmp-"):
                continue
            try:
                out.append(
                    bytes.fromhex(name[3:]) if name.startswith("v0-") else cid_to_bytes(name)
                )
            except ValueError:
                continue
        return out

    def __len__(self) -> int:
        return sum(1 for p in self.root.glob("*/*") if not p.name.startswith(".tmp-"))
