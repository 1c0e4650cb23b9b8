"""Persistent libp2p identity: an Ed25519 key in ``<data_dir>/p2p.key`` (mode 0600).

The file holds the libp2p protobuf encoding of the private key (what Kubo and
go-libp2p call a marshalled private key). It is created on first start with an
exclusive create, so two processes racing on one data dir cannot end up with two
different identities, and it is reused on every later start (same peer id).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.peer.id import ID

from node.errors import NetworkError

log = logging.getLogger(__name__)

KEY_FILE = "p2p.key"


def _write_new(path: Path, key: bytes) -> None:
    """Write ``key`` to ``path`` atomically; FileExistsError if ``path`` exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # atomic, and refuses to replace an existing key
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_identity(data_dir: Path) -> KeyPair:
    """The node's key pair, created (and saved) if ``data_dir`` has none yet."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if not path.exists():
        pair = create_new_key_pair()
        try:
            _write_new(path, pair.private_key.serialize())
            log.info("created libp2p identity %s in %s", ID.from_pubkey(pair.public_key), path)
            return pair
        except FileExistsError:
            pass  # someone else created it first: use theirs
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was mode %o; tightening to 600", path, mode)
        path.chmod(0o600)
    try:
        private = deserialize_private_key(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad key file
        raise NetworkError(f"cannot read libp2p key {path}: {exc}") from exc
    return KeyPair(private, private.get_public_key())
