"""`fedchain doctor` against a real anvil: what fails before a node is ready, then passes.

One chain for the module; doctor runs as the CLI subprocess (``--json``) at three moments:
a fresh node (unfunded, unregistered, its configured p2p port taken by another socket),
the same node funded and registered (everything ok, exit 0), and the devnet stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import fund_accounts
from node.keystore import unlock_keystore
from node.node_init import init_node
from node.operator.deploy import DeployRequest
from node.operator.devnet import devnet_up
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
PEER_ID = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
TOKEN = 10**18


def doctor(*args: str) -> tuple[int, dict[str, dict[str, str]]]:
    result = subprocess.run(
        [sys.executable, "-m", "node", "doctor", "--json", *args],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {c["name"]: c for c in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, dict]]]:
    from rich.console import Console

    tmp = tmp_path_factory.mktemp("doctor")
    chain_dir = tmp / "devnet"
    request = DeployRequest(task="digits-mlp", min_participants=1)
    net, deployment = devnet_up(chain_dir, free_port(), Console(quiet=True), request=request)
    node_dir = tmp / "node"
    password = tmp / "pw.txt"
    password.write_text(PASSWORD + "\n")
    try:
        init_node(node_dir, chain_dir / "deployment.json", None, 0, 1, password_file=password)
        config = node_dir / "config.toml"
        out: dict[str, tuple[int, dict]] = {}
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            config.write_text(
                config.read_text().replace("listen_port = 0", f"listen_port = {port}")
            )
            out["fresh"] = doctor("--node-dir", str(node_dir), "--data-dir", str(chain_dir))
        key = unlock_keystore(node_dir / "keystore.json", PASSWORD)
        client = ChainClient(net.rpc_url, deployment, key)
        fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [client.address], 500 * TOKEN,
                      eth=10**18)  # fmt: skip
        client.ensure_registered(100 * TOKEN, PEER_ID, [f"/ip4/127.0.0.1/tcp/{port}"])
        out["ready"] = doctor("--node-dir", str(node_dir), "--data-dir", str(chain_dir))
        devnet.down(chain_dir)
        out["stopped"] = doctor("--node-dir", str(node_dir), "--data-dir", str(chain_dir))
        yield out
    finally:
        devnet.down(chain_dir)


def failed(checks: dict[str, dict[str, str]]) -> set[str]:
    return {name for name, c in checks.items() if c["status"] == "FAIL"}


def test_a_fresh_node_fails_with_the_fix_for_each_problem(runs) -> None:  # type: ignore[no-untyped-def]
    code, checks = runs["fresh"]
    assert code == 1
    assert failed(checks) == {"funded", "registered", "participants", "p2p port"}
    assert "fedchain fund 0x" in checks["funded"]["fix"]
    assert "0 active, 1 needed" in checks["participants"]["detail"]
    assert "in use by another process" in checks["p2p port"]["detail"]
    for name in ("anvil", "forge", "contracts", "devnet", "deployment", "task", "rpc",
                 "coordinator", "node config", "keystore"):  # fmt: skip
        assert checks[name]["status"] == "ok", checks[name]


def test_a_funded_registered_node_passes(runs) -> None:  # type: ignore[no-untyped-def]
    code, checks = runs["ready"]
    assert failed(checks) == set(), checks
    assert code == 0
    assert "active with stake 100 FED" in checks["registered"]["detail"]
    assert "1 active, 1 needed" in checks["participants"]["detail"]


def test_a_stopped_devnet_is_named_with_how_to_start_it(runs) -> None:  # type: ignore[no-untyped-def]
    code, checks = runs["stopped"]
    assert code == 1
    assert {"devnet", "rpc"} <= failed(checks)
    assert "fedchain devnet up --data-dir" in checks["devnet"]["fix"]
    assert checks["account"]["status"] == "skip"
