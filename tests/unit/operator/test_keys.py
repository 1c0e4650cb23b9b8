"""node.operator.keys: which account an operator command signs as, checked before any RPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.chain.deploy import DEPLOYMENT_VERSION
from node.errors import ConfigError, FedchainError
from node.keystore import KEYSTORE_FILE, PASSWORD_ENV, create_keystore
from node.operator.keys import KeySource, account_address, client_for, private_key
from tests.integration.ports import free_port

PASSWORD = "correct horse battery"
KEY = "0x" + "11" * 32
ADDRESS = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"  # of KEY
ZERO = "0x" + "00" * 20


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    home = tmp_path / "node"
    create_keystore(home / KEYSTORE_FILE, PASSWORD, KEY, scrypt_n=2**10)
    return home


def deployment_at(tmp_path: Path, rpc_url: str) -> Path:
    path = tmp_path / "deployment.json"
    data = {
        "version": DEPLOYMENT_VERSION,
        "chain_id": 31337,
        "rpc_url": rpc_url,
        "token": ZERO,
        "coordinator": ZERO,
        "deployer": ZERO,
        "deploy_block": 1,
        "genesis_model_cid": "bafk",
        "task_id": "digits-mlp",
        "params": {},
    }
    path.write_text(json.dumps(data))
    return path


def test_address_needs_no_password(node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert account_address(KeySource(node_dir=node_dir)) == ADDRESS
    assert account_address(KeySource(keystore=node_dir / KEYSTORE_FILE)) == ADDRESS
    assert account_address(KeySource()) is None


def test_unlock_with_password_file_env_and_wrong_password(
    node_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(PASSWORD + "\n")
    bad.write_text("not it\n")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert private_key(KeySource(node_dir=node_dir, password_file=good)) == KEY
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert private_key(KeySource(node_dir=node_dir)) == KEY
    with pytest.raises(ConfigError, match="wrong password"):
        private_key(KeySource(node_dir=node_dir, password_file=bad))


def test_plaintext_key_only_when_asked_and_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "legacy"
    home.mkdir()
    (home / "key.hex").write_text(KEY + "\n")
    with pytest.raises(ConfigError) as info:
        private_key(KeySource(node_dir=home))
    assert "only a plaintext key.hex" in str(info.value)
    assert "fedchain account import --private-key-file" in str(info.value)
    source = KeySource(node_dir=home, private_key_file=home / "key.hex")
    assert private_key(source) == KEY
    assert "warning: signing with the plaintext key" in capsys.readouterr().err
    assert account_address(source) == ADDRESS


def test_nothing_named_says_what_to_give() -> None:
    with pytest.raises(FedchainError, match="give --node-dir DIR"):
        private_key(KeySource())


def test_wrong_password_is_reported_before_any_rpc(node_dir: Path, tmp_path: Path) -> None:
    deployment = deployment_at(tmp_path, f"http://127.0.0.1:{free_port()}")  # nobody there
    bad = tmp_path / "bad"
    bad.write_text("not it\n")
    with pytest.raises(ConfigError, match="wrong password"):
        client_for(KeySource(node_dir=node_dir, password_file=bad), deployment)


def test_cli_wrong_password_is_one_line_without_loading_torch(
    node_dir: Path, tmp_path: Path
) -> None:
    deployment = deployment_at(tmp_path, f"http://127.0.0.1:{free_port()}")
    bad = tmp_path / "bad"
    bad.write_text("not it\n")
    probe = (
        "import sys\nfrom node.cli import app\ntry:\n    app()\nexcept SystemExit as e:\n"
        "    print('exit', e.code, 'torch' in sys.modules)\n"
    )
    argv = ["claim", "--node-dir", str(node_dir), "--password-file", str(bad)]
    result = subprocess.run(
        [sys.executable, "-c", probe, *argv, "--deployment", str(deployment)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != PASSWORD_ENV},
    )
    assert result.stdout.strip() == "exit 1 False"
    assert result.stderr.strip().splitlines() == [
        f"error: cannot unlock keystore {node_dir / KEYSTORE_FILE}: wrong password "
        f"(give the right one with --password-file FILE or {PASSWORD_ENV})"
    ]
