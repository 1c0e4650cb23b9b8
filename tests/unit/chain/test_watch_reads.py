"""QuickReads against a canned JSON-RPC server: the same values as web3's ``call()`` on the
coordinator's real ABI, and every doubt (revert, error, transport) handed back to web3."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import eth_abi
import pytest
from web3 import Web3

from node.chain.artifacts import load_artifact
from node.chain.watch_reads import QuickReads, QuickReadUnavailable

COORD = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MEMBER = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
ABI = load_artifact("FedCoordinator").abi
ROUND_INFO = (2, 100, 160, 130, 400, 4, 3, 10**20, b"r" * 32, 7, 8, b"k" * 16, 9, 1, 2, 150)


def _topic(type_: str, value: Any) -> str:
    return "0x" + eth_abi.encode([type_], [value]).hex()


COMMITTED_LOG = {
    "address": COORD,
    "topics": [
        "0x" + Web3.keccak(text="Committed(uint256,address,bytes)").hex().removeprefix("0x"),
        _topic("uint256", 3),
        _topic("address", MEMBER),
    ],
    "data": "0x" + eth_abi.encode(["bytes"], [b"\x01cid"]).hex(),
    "blockNumber": "0x7",
    "logIndex": "0x1",
    "transactionIndex": "0x0",
    "transactionHash": "0x" + "ab" * 32,
    "blockHash": "0x" + "cd" * 32,
    "removed": False,
}


def _outputs(name: str) -> list[str]:
    entry = next(e for e in ABI if e.get("type") == "function" and e["name"] == name)
    return [_canonical(o) for o in entry["outputs"]]


def _canonical(entry: dict[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in entry["components"]) + ")" + kind[5:]
    return kind


class Chain(BaseHTTPRequestHandler):
    """Answers by function selector; ``mode`` switches in failures."""

    mode = "ok"
    calls: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the handler instances

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        batch = body if isinstance(body, list) else [body]
        answers = [self.answer(q) for q in batch]
        data = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, q: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"jsonrpc": "2.0", "id": q["id"]}
        if q["method"] == "eth_chainId":
            return out | {"result": "0x7a69"}
        if q["method"] == "eth_getBlockByNumber":
            return out | {"result": {"number": "0x10", "timestamp": hex(1234)}}
        if q["method"] == "eth_blockNumber":
            return out | {"result": "0x10"}
        if q["method"] == "eth_getLogs":
            Chain.calls.append(q["params"][0])
            return out | {"result": [COMMITTED_LOG]}
        assert q["method"] == "eth_call", q
        Chain.calls.append(q["params"][0])
        if Chain.mode == "revert":
            return out | {"error": {"code": 3, "message": "execution reverted", "data": "0x"}}
        selector = q["params"][0]["data"][:10]
        values: dict[str, tuple[str, tuple[Any, ...]]] = {
            Web3.keccak(text="currentRound()")[:4].hex(): ("currentRound", (7,)),
            Web3.keccak(text="participantAt(uint256)")[:4].hex(): ("participantAt", (MEMBER,)),
        }
        found = [v for s, v in values.items() if s in selector]
        if found:
            name, result = found[0]
        else:  # roundInfo(uint256) for anything else
            name, result = "roundInfo", (ROUND_INFO,)
        return out | {"result": "0x" + eth_abi.encode(_outputs(name), list(result)).hex()}

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Chain.mode, Chain.calls = "ok", []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Chain)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_same_values_as_web3(server: str) -> None:
    quick = QuickReads(server, ABI, COORD)
    coord = Web3(Web3.HTTPProvider(server)).eth.contract(address=COORD, abi=ABI)
    assert quick.call("currentRound", (), ME) == coord.functions.currentRound().call() == 7
    # addresses come back checksummed, as web3 gives them
    member = quick.call("participantAt", (0,), ME)
    assert member == coord.functions.participantAt(0).call() == Web3.to_checksum_address(MEMBER)
    info, now = quick.call_and_time("roundInfo", (3,), ME)
    assert info == coord.functions.roundInfo(3).call() and now == 1234
    assert quick.latest_timestamp() == 1234
    assert quick.calls("currentRound", [(), ()], ME) == [7, 7]  # one batch
    assert quick.calls("currentRound", [], ME) == []
    sent = Chain.calls[0]
    assert sent["from"] == ME and sent["to"] == COORD  # as this account, like web3's reads


def test_doubts_go_back_to_web3(server: str) -> None:
    quick = QuickReads(server, ABI, COORD)
    Chain.mode = "revert"
    with pytest.raises(QuickReadUnavailable):
        quick.call("roundInfo", (1,), ME)  # web3 decodes the revert
    with pytest.raises(QuickReadUnavailable):
        quick.call("roundInfo", ("not a number",), ME)  # web3 reports the bad argument
    with pytest.raises(QuickReadUnavailable):
        quick.call("advance", (), ME)  # not a view
    with pytest.raises(QuickReadUnavailable):
        QuickReads("ws://127.0.0.1:1/", ABI, COORD).call("currentRound", (), ME)


def test_transport_failure_then_recovery(server: str) -> None:
    port = int(server.rsplit(":", 1)[1].strip("/"))
    dead = QuickReads("http://127.0.0.1:1/", ABI, COORD)  # nothing listens on port 1
    with pytest.raises(QuickReadUnavailable):
        dead.call("currentRound", (), ME)
    quick = QuickReads(f"http://127.0.0.1:{port}", ABI, COORD)
    assert quick.call("currentRound", (), ME) == 7
    assert quick._rpc is not None
    quick._rpc._connection().close()  # a dropped keep-alive connection is reopened
    assert quick.call("currentRound", (), ME) == 7


def test_logs_as_web3_decodes_them(server: str) -> None:
    quick = QuickReads(server, ABI, COORD)
    coord = Web3(Web3.HTTPProvider(server)).eth.contract(address=COORD, abi=ABI)
    (mine,) = quick.logs("Committed", {"round": 3}, 1, 16)
    (theirs,) = coord.events.Committed().get_logs(
        argument_filters={"round": 3}, from_block=1, to_block=16
    )
    assert mine["args"] == dict(theirs["args"])
    assert mine["args"]["author"] == Web3.to_checksum_address(MEMBER)
    assert mine["blockNumber"] == theirs["blockNumber"] == 7
    query = Chain.calls[0]
    assert query["topics"][1] == _topic("uint256", 3) and len(query["topics"]) == 2
    assert quick.block_number() == 16
    with pytest.raises(QuickReadUnavailable):
        quick.logs("Committed", {"cid": b"x"}, 1, 16)  # not indexed: web3 filters it
