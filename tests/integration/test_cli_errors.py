"""Expected mistakes get one clear line on stderr, a non-zero exit and no traceback.

Real processes throughout: the CLI as a subprocess, a real anvil for the unfunded case.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.deploy import Deployment, DeployParams, deploy
from node.operator.devnet import genesis_cid
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
TASK = "digits-mlp"


def fedchain(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEDCHAIN_KEYSTORE_PASSWORD": "correct horse battery"}
    return subprocess.run(
        [sys.executable, "-m", "node", *args], capture_output=True, text=True, timeout=300,
        env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def write_node(tmp: Path, deployment: Path, **extra: object) -> Path:
    result = fedchain(
        "node", "init", "--data-dir", str(tmp), "--deployment", str(deployment), "--task", TASK
    )
    assert result.returncode == 0, result.stderr
    config = tmp / "config.toml"
    text = config.read_text()
    for key, value in extra.items():
        text = text.replace(f"\n{key} = ", f"\n{key} = {value!r}  # was ", 1)
    config.write_text(text.replace("'", '"'))
    return config


@pytest.fixture
def dead_rpc_deployment(tmp_path: Path) -> Path:
    path = tmp_path / "deployment.json"
    Deployment(
        chain_id=31337,
        rpc_url=f"http://127.0.0.1:{free_port()}",
        token="0x" + "11" * 20,
        coordinator="0x" + "22" * 20,
        deployer="0x" + "33" * 20,
        deploy_block=1,
        genesis_model_cid=genesis_cid(TASK),
        task_id=TASK,
        params=DeployParams(),
    ).save(path)
    return path


@pytest.fixture(scope="module")
def live_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("chain")
    net = devnet.up(root / "devnet", port=free_port())
    path = root / "deployment.json"
    try:
        deploy(net.rpc_url, net.accounts[0][1], genesis_cid(TASK), TASK, DeployParams(), path)
        yield path
    finally:
        devnet.down(root / "devnet")


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    assert needle in error_lines[0], error_lines[0]


def test_missing_config_file(tmp_path: Path) -> None:
    result = fedchain("node", "run", "--config", str(tmp_path / "absent.toml"))
    assert_one_line_error(result, "not found: create one with `fedchain node init`")


def test_bad_config_value_names_the_key(tmp_path: Path, dead_rpc_deployment: Path) -> None:
    config = write_node(tmp_path / "n", dead_rpc_deployment, epochs="two")
    result = fedchain("node", "run", "--config", str(config))
    assert_one_line_error(result, "'epochs'")


def test_unreachable_rpc(tmp_path: Path, dead_rpc_deployment: Path) -> None:
    """Also: an honest `node run` says it ignores a config's [simulation] table."""
    config = write_node(tmp_path / "n", dead_rpc_deployment)
    config.write_text(config.read_text() + '\n[simulation]\nattack = "sign_flip"\n')
    result = fedchain("node", "run", "--config", str(config))
    assert_one_line_error(result, "cannot reach the chain")
    assert "[simulation] table" in result.stderr
    assert "python -m node.attacks" in result.stderr


def test_listen_port_in_use(tmp_path: Path, live_deployment: Path) -> None:
    config = write_node(tmp_path / "n", live_deployment)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = fedchain("node", "run", "--config", str(config), "--listen-port", str(port))
    assert_one_line_error(result, str(port))


def test_devnet_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = fedchain("devnet", "up", "--data-dir", str(tmp_path), "--port", str(port))
    assert_one_line_error(result, "in use")


def test_unfunded_account(tmp_path: Path, live_deployment: Path) -> None:
    config = write_node(tmp_path / "n", live_deployment)
    result = fedchain("node", "run", "--config", str(config))
    assert_one_line_error(result, "fedchain fund")


def test_wrong_cli_arguments_are_usage_errors() -> None:
    result = fedchain("demo", "--nodes", "1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--nodes" in result.stderr


def test_node_init_writes_an_encrypted_keystore_only(
    tmp_path: Path, dead_rpc_deployment: Path
) -> None:
    write_node(tmp_path / "n", dead_rpc_deployment)
    keystore = (tmp_path / "n" / "keystore.json").read_text()
    assert '"crypto"' in keystore and '"ciphertext"' in keystore
    assert not (tmp_path / "n" / "key.hex").exists()
    assert oct((tmp_path / "n" / "keystore.json").stat().st_mode)[-3:] == "600"


def test_node_without_password_source_says_how_to_give_one(
    tmp_path: Path, dead_rpc_deployment: Path
) -> None:
    write_node(tmp_path / "n", dead_rpc_deployment)
    env = {k: v for k, v in os.environ.items() if k != "FEDCHAIN_KEYSTORE_PASSWORD"}
    result = subprocess.run(
        [sys.executable, "-m", "node", "node", "run", "--config", str(tmp_path / "n/config.toml")],
        capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert_one_line_error(result, "--password-file")
