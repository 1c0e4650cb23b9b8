"""Cheap reads for the loops that watch the chain: contract views and the latest block's time.

A contract view through web3.py costs about 10 ms of CPU in the calling process (the
function's ABI looked up and its selector hashed again on every call, argument
validation, middleware, a ``requests`` round trip); a raw ``eth_call`` over a keep-alive
connection costs about 0.4 ms. Every node reads the round every few seconds and the
machines this runs on hold many nodes, so ``QuickReads`` does the common case itself:
selector and ABI types computed once per function, arguments encoded and results decoded
with eth_abi, one ``http.client`` connection per thread. Anything it is not sure of (an
overloaded name, a revert, an error answer, a transport failure, a non-HTTP endpoint)
raises ``QuickReadUnavailable`` and the caller takes the web3 path, which reports the
failure as it always did (decoded revert, ``ChainUnreachable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import eth_abi
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector, to_checksum_address

from node.chain.errors import ChainUnreachable
from node.chain.raw_rpc import RawRpc, RpcUnavailable

TIMEOUT_S = 10.0
BATCH = 100  # requests per JSON-RPC batch


class QuickReadUnavailable(Exception):
    """The quick path cannot answer this read: take the web3 path."""


def abi_type(entry: dict[str, Any]) -> str:
    """The canonical ABI type string of an input/output entry (tuples spelled out)."""
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in entry["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _checksummed(entry: dict[str, Any], value: Any) -> Any:
    """``value`` with its addresses checksummed, as web3 returns them (eth_abi gives them
    in lower case)."""
    kind = str(entry["type"])
    if kind.endswith("]"):
        item = {**entry, "type": kind[: kind.rindex("[")]}
        return [_checksummed(item, v) for v in value]
    if kind == "address":
        return to_checksum_address(value)
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(entry["components"], value, strict=True))
    return value


class _View:
    def __init__(self, abi: Any) -> None:
        self.selector = function_abi_to_4byte_selector(abi)
        self.inputs = [abi_type(i) for i in abi.get("inputs", [])]
        self.outputs: list[dict[str, Any]] = list(abi.get("outputs", []))
        self.output_types = [abi_type(o) for o in self.outputs]

    def calldata(self, args: Sequence[Any]) -> str:
        try:
            return "0x" + (self.selector + eth_abi.encode(self.inputs, list(args))).hex()
        except Exception as exc:  # noqa: BLE001 - any encoding doubt: let web3 validate
            raise QuickReadUnavailable(f"arguments: {exc}") from None

    def result(self, hex_data: str) -> Any:
        """The decoded result as web3 returns it: the value for one output, else a list."""
        try:
            values = eth_abi.decode(self.output_types, bytes.fromhex(hex_data.removeprefix("0x")))
        except Exception as exc:  # noqa: BLE001 - e.g. empty return data: let web3 explain
            raise QuickReadUnavailable(f"result: {exc}") from None
        out = [_checksummed(o, v) for o, v in zip(self.outputs, values, strict=True)]
        return out[0] if len(out) == 1 else out


def _indexed_static(abi: dict[str, Any]) -> bool:
    """Whether every indexed argument is a static type (a dynamic one is only its hash)."""
    static = ("uint", "int", "address", "bool", "bytes")
    return all(
        abi_type(i) != "bytes" and abi_type(i).startswith(static) and "[" not in abi_type(i)
        for i in abi.get("inputs", [])
        if i.get("indexed")
    )


class _Event:
    def __init__(self, abi: Any) -> None:
        self.topic0 = "0x" + event_abi_to_log_topic(abi).hex()
        inputs = list(abi.get("inputs", []))
        self.inputs = inputs
        self.indexed = [str(i["name"]) for i in inputs if i.get("indexed")]
        self.data = [i for i in inputs if not i.get("indexed")]
        self.data_types = [abi_type(i) for i in self.data]

    def topics(self, filters: dict[str, Any]) -> list[str | None]:
        out: list[str | None] = [self.topic0]
        for entry in self.inputs:
            if not entry.get("indexed"):
                continue
            value = filters.get(entry["name"])
            if value is None:
                out.append(None)
                continue
            try:
                out.append("0x" + eth_abi.encode([abi_type(entry)], [value]).hex())
            except Exception as exc:  # noqa: BLE001 - let web3 validate
                raise QuickReadUnavailable(f"filter: {exc}") from None
        while out and out[-1] is None:
            out.pop()
        return out

    def decode(self, entry: Any) -> dict[str, Any]:
        try:
            topics = [bytes.fromhex(t.removeprefix("0x")) for t in entry["topics"][1:]]
            data = bytes.fromhex(str(entry["data"]).removeprefix("0x"))
            values = iter(eth_abi.decode(self.data_types, data))
            indexed = iter(topics)
            args: dict[str, Any] = {}
            for i in self.inputs:
                if i.get("indexed"):
                    (raw,) = eth_abi.decode([abi_type(i)], next(indexed))
                else:
                    raw = next(values)
                args[i["name"]] = _checksummed(i, raw)
            return {
                "args": args,
                "blockNumber": int(entry["blockNumber"], 16),
                "blockHash": str(entry["blockHash"]),
                "logIndex": int(entry["logIndex"], 16),
                "transactionHash": bytes.fromhex(entry["transactionHash"].removeprefix("0x")),
            }
        except Exception as exc:  # noqa: BLE001 - anything odd: web3 decodes it
            raise QuickReadUnavailable(f"log: {exc}") from None


class QuickReads:
    """Views of one contract (``abi`` at ``address``) read over raw JSON-RPC."""

    def __init__(self, rpc_url: str, abi: Sequence[Any], address: str) -> None:
        try:
            self._rpc: RawRpc | None = RawRpc(rpc_url, timeout=TIMEOUT_S)
        except RpcUnavailable:
            self._rpc = None  # not an HTTP endpoint: every read goes the web3 path
        self._usable = self._rpc is not None
        self._address = to_checksum_address(address)
        names = [e["name"] for e in abi if e.get("type") == "function"]
        self._views = {
            e["name"]: _View(e)
            for e in abi
            if e.get("type") == "function"
            and e.get("stateMutability") in ("view", "pure")
            and names.count(e["name"]) == 1  # overloaded: web3 picks by the arguments
        }
        self._events = {
            e["name"]: _Event(e)
            for e in abi
            if e.get("type") == "event" and not e.get("anonymous") and _indexed_static(e)
        }

    def call(self, name: str, args: Sequence[Any], sender: str) -> Any:
        """``name(*args)`` as ``sender`` at the latest block, decoded like web3's ``call()``."""
        view = self._view(name)
        (answer,) = self._post([self._eth_call(view, args, sender)])
        return view.result(answer)

    def calls(self, name: str, args: Sequence[Sequence[Any]], sender: str) -> list[Any]:
        """``call`` for each argument tuple, in JSON-RPC batches of ``BATCH``."""
        view = self._view(name)
        out: list[Any] = []
        for start in range(0, len(args), BATCH):
            chunk = [self._eth_call(view, a, sender) for a in args[start : start + BATCH]]
            out += [view.result(answer) for answer in self._post(chunk)] if chunk else []
        return out

    def call_and_time(self, name: str, args: Sequence[Any], sender: str) -> tuple[Any, int]:
        """``call`` and the latest block's timestamp, in one request."""
        view = self._view(name)
        block = {"method": "eth_getBlockByNumber", "params": ["latest", False]}
        answer, latest = self._post([self._eth_call(view, args, sender), block])
        return view.result(answer), _timestamp(latest)

    def views(
        self, calls: Sequence[tuple[str, Sequence[Any]]], sender: str
    ) -> tuple[list[Any], int]:
        """Several views (``(name, args)`` each) as ``sender`` and the latest block's
        timestamp, in one JSON-RPC batch (one round trip, one worker-thread hand-off)."""
        views = [self._view(name) for name, _ in calls]
        requests = [
            self._eth_call(v, args, sender) for v, (_, args) in zip(views, calls, strict=True)
        ]
        block = {"method": "eth_getBlockByNumber", "params": ["latest", False]}
        *answers, latest = self._post([*requests, block])
        return [v.result(a) for v, a in zip(views, answers, strict=True)], _timestamp(latest)

    def block_number(self) -> int:
        (number,) = self._post([{"method": "eth_blockNumber", "params": []}])
        return int(number, 16)

    def logs(
        self, name: str, filters: dict[str, Any], from_block: int, to_block: int
    ) -> list[dict[str, Any]]:
        """Event ``name``'s logs of this contract in the block range whose indexed
        arguments equal ``filters``, as web3's ``get_logs`` gives them: ``args`` (addresses
        checksummed), ``blockNumber``, ``logIndex``, ``transactionHash``."""
        event = self._events.get(name)
        if event is None or not self._usable or set(filters) - set(event.indexed):
            raise QuickReadUnavailable(name)
        query = {
            "address": self._address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": event.topics(filters),
        }
        (found,) = self._post([{"method": "eth_getLogs", "params": [query]}])
        if not isinstance(found, list):
            raise QuickReadUnavailable("logs: not a list")
        return [event.decode(entry) for entry in found]

    def logs_from(
        self, queries: Sequence[tuple[str, dict[str, Any]]], from_block: int
    ) -> tuple[str | None, list[list[dict[str, Any]]]]:
        """The hash of block ``from_block`` (None if the chain has no such block) and, for
        each ``(event name, filters)`` of ``queries``, its logs (as ``logs`` gives them)
        from that block to the latest: one JSON-RPC batch, answered in order."""
        events = [self._events.get(name) for name, _ in queries]
        requests: list[dict[str, Any]] = [
            {"method": "eth_getBlockByNumber", "params": [hex(from_block), False]}
        ]
        for event, (name, filters) in zip(events, queries, strict=True):
            if event is None or not self._usable or set(filters) - set(event.indexed):
                raise QuickReadUnavailable(name)
            query = {
                "address": self._address,
                "fromBlock": hex(from_block),
                "toBlock": "latest",
                "topics": event.topics(filters),
            }
            requests.append({"method": "eth_getLogs", "params": [query]})
        block, *answers = self._post(requests)
        if not all(isinstance(found, list) for found in answers):
            raise QuickReadUnavailable("logs: not a list")
        block_hash = str(block["hash"]) if isinstance(block, dict) and "hash" in block else None
        return block_hash, [
            [event.decode(entry) for entry in found]
            for event, found in zip(events, answers, strict=True)
            if event is not None
        ]

    def latest_timestamp(self) -> int:
        (latest,) = self._post([{"method": "eth_getBlockByNumber", "params": ["latest", False]}])
        return _timestamp(latest)

    def _view(self, name: str) -> _View:
        view = self._views.get(name)
        if view is None or not self._usable:
            raise QuickReadUnavailable(name)
        return view

    def _eth_call(self, view: _View, args: Sequence[Any], sender: str) -> dict[str, Any]:
        tx = {"from": sender, "to": self._address, "data": view.calldata(args)}
        return {"method": "eth_call", "params": [tx, "latest"]}

    def _post(self, requests: list[dict[str, Any]]) -> list[Any]:
        """The results of ``requests`` (one JSON-RPC batch when more than one)."""
        if self._rpc is None:
            raise QuickReadUnavailable("not an HTTP endpoint")
        try:
            answers = self._rpc.batch([(q["method"], q["params"]) for q in requests])
        except (RpcUnavailable, ChainUnreachable) as exc:
            raise QuickReadUnavailable(f"transport: {exc}") from None
        results = []
        for answer in answers:
            if "error" in answer or "result" not in answer:
                raise QuickReadUnavailable("error answer")  # e.g. a revert: web3 decodes it
            results.append(answer["result"])
        return results


def _timestamp(block: Any) -> int:
    if not isinstance(block, dict) or "timestamp" not in block:
        raise QuickReadUnavailable("no latest block")
    return int(block["timestamp"], 16)
