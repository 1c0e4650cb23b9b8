"""node.keystore: encrypted Ethereum key, password sources, nothing secret leaks."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from eth_account import Account

from node.errors import ConfigError
from node.keystore import (
    KEYSTORE_FILE,
    PASSWORD_ENV,
    create_keystore,
    import_plain_key,
    keystore_address,
    load_signing_key,
    resolve_password,
    unlock_keystore,
)

N = 2**10  # cheap scrypt for tests
PASSWORD = "correct horse battery"
KEY = "0x" + "11" * 32


def test_roundtrip_mode_and_no_plaintext(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / KEYSTORE_FILE
    address = create_keystore(path, PASSWORD, KEY, scrypt_n=N)
    assert address == Account.from_key(KEY).address
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "11" * 32 not in text and PASSWORD not in text
    assert json.loads(text)["crypto"]["kdf"] == "scrypt"
    assert keystore_address(path).lower() == address.lower()
    assert unlock_keystore(path, PASSWORD) == KEY
    assert "11" * 32 not in caplog.text and PASSWORD not in caplog.text
    assert not list(tmp_path.glob(".*tmp"))


def test_wrong_password_and_no_overwrite(tmp_path: Path) -> None:
    path = tmp_path / KEYSTORE_FILE
    create_keystore(path, PASSWORD, KEY, scrypt_n=N)
    with pytest.raises(ConfigError, match="wrong password") as err:
        unlock_keystore(path, "not the password")
    assert "not the password" not in str(err.value)
    with pytest.raises(ConfigError, match="already exists"):
        create_keystore(path, PASSWORD, scrypt_n=N)
    assert unlock_keystore(path, PASSWORD) == KEY
    with pytest.raises(ConfigError, match="at least"):
        create_keystore(tmp_path / "other.json", "short", scrypt_n=N)


def test_password_sources_in_order(tmp_path: Path) -> None:
    pw_file = tmp_path / "pw"
    pw_file.write_text("from-file-pw\nignored\n")
    env = {PASSWORD_ENV: "from-env-pw"}
    assert resolve_password(pw_file, env=env) == "from-file-pw"
    assert resolve_password(None, env=env) == "from-env-pw"
    assert resolve_password(None, env={}, interactive=True, prompt=lambda _: "typed-pw") == (
        "typed-pw"
    )
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        resolve_password(None, env={}, interactive=False)
    answers = iter(["one-password", "another-one"])
    with pytest.raises(ConfigError, match="differ"):
        resolve_password(
            None, env={}, interactive=True, prompt=lambda _: next(answers), confirm=True
        )
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_password(tmp_path / "missing", env={})


def test_load_signing_key_prefers_keystore(tmp_path: Path) -> None:
    legacy = tmp_path / "key.hex"
    legacy.write_text(KEY + "\n")
    assert load_signing_key(tmp_path, legacy_key_file=legacy, env={}) == KEY  # legacy fallback
    other = "0x" + "22" * 32
    create_keystore(tmp_path / KEYSTORE_FILE, PASSWORD, other, scrypt_n=N)
    env = {PASSWORD_ENV: PASSWORD}
    assert load_signing_key(tmp_path, legacy_key_file=legacy, env=env) == other
    with pytest.raises(ConfigError, match="no keystore"):
        load_signing_key(tmp_path / "empty", env=env)


def test_import_plain_key_removes_plaintext(tmp_path: Path) -> None:
    legacy = tmp_path / "key.hex"
    legacy.write_text(KEY + "\n")
    address = import_plain_key(legacy, tmp_path / KEYSTORE_FILE, PASSWORD, remove=True)
    assert not legacy.exists()
    assert address == Account.from_key(KEY).address
    assert unlock_keystore(tmp_path / KEYSTORE_FILE, PASSWORD) == KEY
