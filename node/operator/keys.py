"""Which account an operator command signs with, and the chain client for it.

An account is given as one of:

- ``node_dir``: the node's data directory; its ``keystore.json`` signs,
- ``keystore``: any eth-account v3 keystore file,
- ``private_key_file``: a plaintext 0x key (explicit only; warns on stderr).

The keystore password comes from ``password_file``, else ``FEDCHAIN_KEYSTORE_PASSWORD``,
else a prompt on a terminal (``node.keystore.resolve_password``). The key is unlocked
before any RPC connection is made, so a wrong password is reported at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.errors import ConfigError, FedchainError
from node.keystore import KEYSTORE_FILE, keystore_address, resolve_password, unlock_keystore

if TYPE_CHECKING:
    from node.chain.client import ChainClient

LEGACY_KEY_FILE = "key.hex"


@dataclass(frozen=True)
class KeySource:
    """Where the signing key of an operator command comes from (see module doc)."""

    node_dir: Path | None = None
    keystore: Path | None = None
    private_key_file: Path | None = None
    password_file: Path | None = None

    @property
    def given(self) -> bool:
        return any(p is not None for p in (self.node_dir, self.keystore, self.private_key_file))

    @property
    def explicit(self) -> bool:
        """Whether a key other than the node directory's was named."""
        return self.keystore is not None or self.private_key_file is not None

    def keystore_path(self) -> Path | None:
        if self.keystore is not None:
            return self.keystore
        if self.node_dir is not None and self.private_key_file is None:
            return self.node_dir / KEYSTORE_FILE
        return None


def read_key(path: Path) -> str:
    """The 0x private key in a plaintext key file."""
    try:
        key = Path(path).read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"key file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    if not key.startswith("0x") or len(key) != 66:
        raise ConfigError(f"key file {path} must hold one 0x-prefixed 32-byte hex private key")
    try:
        bytes.fromhex(key[2:])
    except ValueError:
        raise ConfigError(
            f"key file {path} must hold one 0x-prefixed 32-byte hex private key"
        ) from None
    return key


def _missing_keystore(path: Path, node_dir: Path | None) -> ConfigError:
    if node_dir is not None and path == node_dir / KEYSTORE_FILE:
        legacy = node_dir / LEGACY_KEY_FILE
        if legacy.is_file():
            return ConfigError(
                f"no keystore in {node_dir} (only a plaintext {LEGACY_KEY_FILE}): encrypt it "
                f"with `fedchain account import --private-key-file {legacy} --node-dir "
                f"{node_dir}`, or sign with it as is: --private-key-file {legacy}"
            )
        return ConfigError(
            f"no keystore in {node_dir}: create one with `fedchain node init --data-dir "
            f"{node_dir}` or `fedchain account new --node-dir {node_dir}`"
        )
    return ConfigError(f"keystore {path} not found: create it with `fedchain account new`")


def account_address(source: KeySource) -> str | None:
    """The address ``source`` signs as, read without a password (None if none given)."""
    if source.private_key_file is not None:
        from eth_account import Account

        return str(Account.from_key(read_key(source.private_key_file)).address)
    path = source.keystore_path()
    if path is None:
        return None
    if not path.is_file():
        raise _missing_keystore(path, source.node_dir)
    return keystore_address(path)


def private_key(source: KeySource) -> str:
    """Unlock the key ``source`` names; ConfigError naming the fix when it cannot."""
    if source.private_key_file is not None:
        key = read_key(source.private_key_file)
        print(
            f"warning: signing with the plaintext key in {source.private_key_file}; "
            "keep keys in a keystore (`fedchain account import`)",
            file=sys.stderr,
        )
        return key
    path = source.keystore_path()
    if path is None:
        raise FedchainError(
            "no account to sign with: give --node-dir DIR (its keystore.json), "
            "--keystore FILE, or --private-key-file FILE"
        )
    if not path.is_file():
        raise _missing_keystore(path, source.node_dir)
    return unlock_keystore(path, resolve_password(source.password_file))


def signing_client(
    deployment: Path,
    rpc_url: str = "",
    *,
    node_dir: Path | None = None,
    keystore: Path | None = None,
    private_key_file: Path | None = None,
    password_file: Path | None = None,
) -> ChainClient:
    """A client that signs with the named account (unlocked before connecting)."""
    source = KeySource(node_dir, keystore, private_key_file, password_file)
    return client_for(source, deployment, rpc_url)


def client_for(source: KeySource, deployment: Path, rpc_url: str = "") -> ChainClient:
    from node.chain.deploy import Deployment

    loaded = Deployment.load(deployment)  # a missing deployment file fails before the prompt
    key = private_key(source)
    from node.chain.client import ChainClient

    return ChainClient(rpc_url or loaded.rpc_url, loaded, key)


def read_client(deployment: Path, rpc_url: str = "", address: str | None = None) -> ChainClient:
    """A client for reading the chain (it signs nothing); its reads default to ``address``
    when given (stake, balances, votes)."""
    from eth_utils import to_checksum_address

    from node.chain.deploy import Deployment
    from node.operator.readonly import WatchingClient

    loaded = Deployment.load(deployment)
    if address is not None:
        try:
            address = str(to_checksum_address(address))
        except ValueError:
            raise ConfigError(f"{address!r} is not an address (0x and 40 hex digits)") from None
    return WatchingClient(rpc_url or loaded.rpc_url, loaded, address)


def _coordinator(deployment: Path) -> str:
    try:
        return str(json.loads(Path(deployment).read_text())["coordinator"]).lower()
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # the local path reports the deployment file's problem properly


def running_node(source: KeySource, deployment: Path) -> Any:
    """The control endpoint of the node running in ``source.node_dir`` if this command's
    account and deployment are that node's, else None (then the command signs itself)."""
    from node.control import find_node, send

    if source.node_dir is None:
        return None
    endpoint, note = find_node(source.node_dir)
    if note:
        print(note, file=sys.stderr)
    if endpoint is None:
        return None
    node = send(endpoint, "address")
    if str(node.get("coordinator", "")).lower() != _coordinator(deployment):
        print(
            f"note: the node in {source.node_dir} runs another deployment than {deployment}: "
            "signing locally",
            file=sys.stderr,
        )
        return None
    if source.explicit:
        mine = account_address(source)
        if mine is None or mine.lower() != str(node["address"]).lower():
            return None  # another account than the node's: nothing to coordinate with
    return endpoint


def run_signed(
    op: str,
    args: dict[str, Any],
    source: KeySource,
    deployment: Path,
    rpc_url: str,
    local: Callable[[ChainClient], dict[str, Any]],
) -> dict[str, Any]:
    """Run operator op ``op``: by the node running in ``--node-dir`` (it owns the account's
    nonce), else ``local`` with a client signing here."""
    endpoint = running_node(source, deployment)
    if endpoint is not None:
        from node.control import send

        return send(endpoint, op, args)
    return local(client_for(source, deployment, rpc_url))


def client(deployment_file: Path, key_file: Path | None, rpc_url: str = "") -> ChainClient:
    """A client signing with a plaintext key file (tests, devnet tools); read-only if None."""
    if key_file is None:
        return read_client(deployment_file, rpc_url)
    from node.chain.client import ChainClient
    from node.chain.deploy import Deployment

    loaded = Deployment.load(deployment_file)
    return ChainClient(rpc_url or loaded.rpc_url, loaded, read_key(key_file))
