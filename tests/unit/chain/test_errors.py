"""Revert decoding and the one-line errors of the chain layer (no chain needed)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak

from node.chain import devnet
from node.chain.artifacts import load_artifact
from node.chain.errors import AnvilMissing, ArtifactMissing, ChainUnreachable, PortInUse
from node.chain.tx import ErrorDecoder, connect

ABI = [
    {
        "type": "error",
        "name": "CommitWindowClosed",
        "inputs": [{"name": "round", "type": "uint256"}],
    },
    {
        "type": "error",
        "name": "AlreadyClaimed",
        "inputs": [{"name": "round", "type": "uint256"}, {"name": "account", "type": "address"}],
    },
]


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def test_decodes_custom_errors_with_named_args() -> None:
    decoder = ErrorDecoder([ABI])
    data = selector("CommitWindowClosed(uint256)") + encode(["uint256"], [3])
    assert decoder.decode(data) == ("CommitWindowClosed", {"round": 3})
    account = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    data = selector("AlreadyClaimed(uint256,address)") + encode(
        ["uint256", "address"], [1, account]
    )
    assert decoder.decode(data) == ("AlreadyClaimed", {"round": 1, "account": account})


def test_decodes_error_string_panic_and_unknown() -> None:
    decoder = ErrorDecoder([ABI])
    assert decoder.decode(selector("Error(string)") + encode(["string"], ["no"])) == (
        "Error",
        {"message": "no"},
    )
    assert decoder.decode(selector("Panic(uint256)") + encode(["uint256"], [0x11])) == (
        "Panic",
        {"code": "0x11"},
    )
    assert decoder.decode(b"\xde\xad\xbe\xef")[0] == "UnknownError(0xdeadbeef)"
    assert decoder.decode(b"")[0] == "Reverted"


def test_missing_artifact_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(ArtifactMissing, match="forge build"):
        load_artifact("FedCoordinator", tmp_path)


def test_anvil_missing_says_npm_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEDCHAIN_ANVIL", str(tmp_path / "no-anvil"))
    monkeypatch.setattr(devnet, "DEVNET_DIR", tmp_path)
    with pytest.raises(AnvilMissing, match="npm ci"):
        devnet.anvil_binary()


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port}"):
            devnet.up(tmp_path, port=port)


def test_unreachable_rpc_names_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ChainUnreachable, match="fedchain devnet up"):
        connect(url, timeout=2)
    with pytest.raises(ChainUnreachable):
        devnet.rpc_call(url, "eth_chainId")


def test_status_of_empty_dir(tmp_path: Path) -> None:
    assert not devnet.status(tmp_path).running
    assert devnet.down(tmp_path) is False
