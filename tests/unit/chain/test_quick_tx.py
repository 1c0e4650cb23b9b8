"""The raw JSON-RPC transaction path's pure parts: calldata as web3 encodes it, and which
error answers it reports itself (no chain needed; tests/integration/test_chain_client.py
sends real transactions through it)."""

from __future__ import annotations

import pytest
from web3 import Web3

from node.chain.artifacts import load_artifact
from node.chain.quick_tx import (
    QuickTxUnavailable,
    RawRpc,
    RpcError,
    calldata,
    format_receipt,
    result_of,
    revert_error,
)

COORD = "0x" + "22" * 20
A, B = "0x90F79bf6EB2c4f870365E785982E1f101E93b906", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def coordinator() -> object:
    return Web3().eth.contract(address=COORD, abi=load_artifact("FedCoordinator").abi)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("commit", (3, b"\x01" * 36)),
        ("submitOutcome", (2, b"\x01" * 36, b"\x02" * 32, sorted([A, B]), 9_100)),
        ("claim", (4, 10**18, [b"\x03" * 32, b"\x04" * 32])),
        ("claimMany", ([1, 2], [5, 6], [[b"\x05" * 32], []])),
        ("advance", ()),
    ],
)
def test_calldata_is_what_web3_sends(name: str, args: tuple[object, ...]) -> None:
    fn = coordinator().functions[name](*args)  # type: ignore[attr-defined]
    assert calldata(fn) == fn._encode_transaction_data()


def test_calldata_refuses_what_web3_must_validate() -> None:
    fn = coordinator().functions.commit(3, b"\x01" * 36)  # type: ignore[attr-defined]
    fn.args = ("three", b"")  # not a uint256
    with pytest.raises(QuickTxUnavailable):
        calldata(fn)
    with pytest.raises(QuickTxUnavailable):
        calldata(object())


def test_revert_with_data_is_reported_here_anything_else_by_web3() -> None:
    custom = {"code": 3, "message": "execution reverted", "data": "0xdeadbeef00"}
    error = revert_error({"id": 0, "error": custom})
    assert isinstance(error, RpcError) and error.data == "0xdeadbeef00"
    assert revert_error({"id": 0, "result": "0x5208"}) is None
    for odd in ({"code": -32000, "message": "insufficient funds"}, {**custom, "data": "0x"}):
        with pytest.raises(QuickTxUnavailable):
            revert_error({"id": 0, "error": odd})


def test_error_answers_read_as_their_message() -> None:
    with pytest.raises(RpcError, match="nonce too low"):
        result_of({"id": 0, "error": {"code": -32003, "message": "nonce too low"}})
    assert result_of({"id": 0, "result": None}) is None
    with pytest.raises(QuickTxUnavailable):
        result_of({"id": 0})


def test_receipt_formatted_as_web3_returns_it() -> None:
    raw = {"status": "0x1", "gasUsed": "0x5208", "blockNumber": "0x10", "logs": []}
    receipt = format_receipt({**raw, "transactionHash": "0x" + "ab" * 32})
    assert (receipt["status"], receipt["gasUsed"], receipt["blockNumber"]) == (1, 21_000, 16)
    assert bytes(receipt["transactionHash"]) == b"\xab" * 32


def test_only_http_endpoints() -> None:
    with pytest.raises(QuickTxUnavailable, match="not an HTTP endpoint"):
        RawRpc("ws://127.0.0.1:8545")
