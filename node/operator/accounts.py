"""Ethereum accounts in eth-account v3 keystores (like `cast wallet`): new, import, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node.errors import ConfigError, FedchainError
from node.keystore import KEYSTORE_FILE, create_keystore, import_plain_key, resolve_password

DEFAULT_SEARCH = (Path("nodes"), Path(".data"))
MAX_KEYSTORE_BYTES = 64 * 1024  # a v3 keystore is ~0.5 KiB; bigger JSON files are skipped
MAX_DEPTH = 6


def keystore_target(node_dir: Path | None, keystore: Path | None) -> Path:
    """The keystore file ``--node-dir`` or ``--keystore`` names (exactly one of them)."""
    if keystore is not None and node_dir is None:
        return keystore
    if node_dir is not None and keystore is None:
        return node_dir / KEYSTORE_FILE
    raise FedchainError("give one of --keystore FILE and --node-dir DIR (its keystore.json)")


def new_account(target: Path, password_file: Path | None = None) -> dict[str, Any]:
    """A new random key, encrypted into ``target`` (never overwritten)."""
    if target.exists():
        raise ConfigError(f"{target} already exists; not overwriting a keystore")
    address = create_keystore(target, resolve_password(password_file, confirm=True))
    return {"address": address, "keystore": str(target), "message": f"{address} in {target}"}


def import_account(
    key_file: Path, target: Path, password_file: Path | None = None, *, remove: bool = False
) -> dict[str, Any]:
    """Encrypt the plaintext key in ``key_file`` into ``target``; ``remove`` shreds the file."""
    if not key_file.is_file():
        raise ConfigError(f"key file {key_file} not found")
    if target.exists():
        raise ConfigError(f"{target} already exists; not overwriting a keystore")
    password = resolve_password(password_file, confirm=True)
    address = import_plain_key(key_file, target, password, remove=remove)
    note = f"; removed {key_file}" if remove else f"; you may now delete {key_file}"
    return {
        "address": address,
        "keystore": str(target),
        "removed": remove,
        "message": f"{address} imported into {target}{note}",
    }


def _keystore_address(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_KEYSTORE_BYTES:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not ("crypto" in data or "Crypto" in data):
        return None
    address = data.get("address")
    if not isinstance(address, str) or len(address.removeprefix("0x")) != 40:
        return None
    return "0x" + address.removeprefix("0x")


def _json_files(root: Path, depth: int = 0) -> list[Path]:
    if depth > MAX_DEPTH:
        return []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_dir():
            found += _json_files(entry, depth + 1)
        elif entry.suffix == ".json":
            found.append(entry)
    return found


def list_accounts(dirs: list[Path] | None = None) -> list[dict[str, str]]:
    """Every keystore under ``dirs`` (default: ./nodes and ./.data): address and path."""
    roots = list(dirs) if dirs else [d for d in DEFAULT_SEARCH if d.is_dir()]
    for root in roots:
        if not root.is_dir():
            raise ConfigError(f"{root} is not a directory")
    out = []
    for root in roots:
        for path in _json_files(root):
            address = _keystore_address(path)
            if address is not None:
                out.append({"address": address, "keystore": str(path)})
    return out
