"""The node's Ethereum key, encrypted at rest (Web3 Secret Storage, eth-account).

``<data_dir>/keystore.json`` is a standard v3 keystore (scrypt + AES-128-CTR, what geth
and every Ethereum wallet read). The password comes from, in this order:

1. a password file (``--password-file``; its first line, trailing newline dropped),
2. the environment variable ``FEDCHAIN_KEYSTORE_PASSWORD``,
3. an interactive prompt (only on a terminal).

Nothing secret is logged, put in an exception message, or written unencrypted: the key
file is created with mode 0600 in one atomic step (temporary file + hard link, which
also refuses to overwrite an existing keystore).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from node.errors import ConfigError

log = logging.getLogger(__name__)

KEYSTORE_FILE = "keystore.json"
PASSWORD_ENV = "FEDCHAIN_KEYSTORE_PASSWORD"
# scrypt cost: 2**16 needs 64 MiB and ~0.3 s to unlock; geth's "standard" 2**18 needs
# 256 MiB, too much for a demo running several nodes on one small machine.
SCRYPT_N = 2**16
MIN_PASSWORD_LEN = 8


def resolve_password(
    password_file: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] | None = None,
    interactive: bool | None = None,
    confirm: bool = False,
) -> str:
    """The keystore password from a file, ``FEDCHAIN_KEYSTORE_PASSWORD`` or a prompt.

    ``confirm`` asks twice at the prompt (for a new keystore). ConfigError when no
    source yields a password.
    """
    env = os.environ if env is None else env
    if password_file is not None:
        try:
            lines = Path(password_file).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read password file {password_file}: {exc.strerror}") from exc
        if not lines or not lines[0]:
            raise ConfigError(f"password file {password_file} is empty")
        return lines[0]
    if env.get(PASSWORD_ENV):
        return env[PASSWORD_ENV]
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise ConfigError(
            f"no keystore password: give --password-file or set {PASSWORD_ENV} "
            "(no terminal to prompt on)"
        )
    ask = prompt or getpass.getpass
    password = ask("keystore password: ")
    if confirm and ask("repeat the password: ") != password:
        raise ConfigError("the two passwords differ")
    if not password:
        raise ConfigError("empty keystore password")
    return password


def _write_exclusive(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise ConfigError(f"{path} already exists; not overwriting a keystore") from exc
    finally:
        tmp.unlink(missing_ok=True)


def create_keystore(
    path: Path,
    password: str,
    private_key: str | bytes | None = None,
    *,
    scrypt_n: int = SCRYPT_N,
) -> str:
    """Encrypt ``private_key`` (a new random key if None) into ``path``; returns the address."""
    if len(password) < MIN_PASSWORD_LEN:
        raise ConfigError(f"keystore password must have at least {MIN_PASSWORD_LEN} characters")
    from eth_account import Account

    account = Account.from_key(private_key) if private_key is not None else Account.create()
    keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=scrypt_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_exclusive(path, json.dumps(keystore))
    log.info("created encrypted keystore %s for %s", path, account.address)
    return str(account.address)


def keystore_address(path: Path) -> str:
    """The address a keystore is for (stored in clear in the file), without the password."""
    data = _read(path)
    address = data.get("address")
    if not isinstance(address, str):
        raise ConfigError(f"{path} has no address field")
    return "0x" + address.removeprefix("0x")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"keystore {path} not found: create it with `fedchain node init`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"keystore {path} is not a readable JSON keystore") from exc
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        raise ConfigError(f"{path} is not an Ethereum keystore")
    return data


def unlock_keystore(path: Path, password: str) -> str:
    """The 0x-prefixed private key in ``path``; ConfigError on a wrong password."""
    path = Path(path)
    data = _read(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was mode %o; tightening to 600", path, mode)
        path.chmod(0o600)
    from eth_account import Account

    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:  # MAC mismatch: wrong password (or a tampered file)
        raise ConfigError(
            f"cannot unlock keystore {path}: wrong password "
            f"(give the right one with --password-file FILE or {PASSWORD_ENV})"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - malformed crypto params of all kinds
        raise ConfigError(f"cannot unlock keystore {path}: {type(exc).__name__}") from None
    return "0x" + bytes(key).hex()


def import_plain_key(key_file: Path, keystore: Path, password: str, *, remove: bool = False) -> str:
    """Encrypt the hex key in ``key_file`` into ``keystore`` (for data dirs made before
    keystores); with ``remove`` the plaintext file is overwritten and deleted after.
    Returns the address."""
    text = Path(key_file).read_text().strip()
    try:
        address = create_keystore(keystore, password, text)
    except ValueError:
        raise ConfigError(f"{key_file} does not hold a hex private key") from None
    if remove:
        size = Path(key_file).stat().st_size
        with open(key_file, "r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        Path(key_file).unlink()
    return address


def load_signing_key(
    data_dir: Path,
    *,
    password_file: Path | None = None,
    legacy_key_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> str:
    """The node's private key: from ``<data_dir>/keystore.json`` when present (password
    resolved as above), else from a plaintext ``legacy_key_file`` (with a warning)."""
    keystore = Path(data_dir) / KEYSTORE_FILE
    if keystore.exists():
        password = resolve_password(password_file, env=env, interactive=interactive)
        return unlock_keystore(keystore, password)
    if legacy_key_file is not None and Path(legacy_key_file).is_file():
        log.warning(
            "%s holds an unencrypted key; move it into a keystore with `fedchain node init`",
            legacy_key_file,
        )
        key = Path(legacy_key_file).read_text().strip()
        if not key.startswith("0x") or len(key) != 66:
            raise ConfigError(f"key file {legacy_key_file} must hold one 0x-prefixed 32-byte key")
        return key
    raise ConfigError(f"no keystore in {data_dir}: create it with `fedchain node init`")
