from __future__ import annotations

import stat
from pathlib import Path

import pytest
from libp2p.peer.id import ID

from node.errors import NetworkError
from node.p2p.identity import KEY_FILE, load_or_create_identity


def peer_id(data_dir: Path) -> str:
    return ID.from_pubkey(load_or_create_identity(data_dir).public_key).to_base58()


def test_created_once_with_mode_600_and_reused(tmp_path: Path) -> None:
    first = peer_id(tmp_path / "node")
    key = tmp_path / "node" / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert peer_id(tmp_path / "node") == first
    assert peer_id(tmp_path / "other") != first
    assert [p.name for p in (tmp_path / "node").iterdir()] == [KEY_FILE]  # no temp files left


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    first = peer_id(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    assert peer_id(tmp_path) == first
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_corrupted_key_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_bytes(b"garbage")
    (tmp_path / KEY_FILE).chmod(0o600)
    with pytest.raises(NetworkError, match="cannot read libp2p key"):
        load_or_create_identity(tmp_path)
