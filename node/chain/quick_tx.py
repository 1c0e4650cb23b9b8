"""Transactions over raw JSON-RPC: what ``Sender.transact`` does through web3.py, for a
fraction of the CPU.

web3.py spends about 25 ms of CPU on one contract transaction (its ABI lookup validates
the whole ABI and hashes every function's selector, again, for the estimate and again for
the build; middleware; a ``requests`` round trip per call) and makes five HTTP requests.
A node sends four or five transactions a round (commit, vote, two claims, sometimes the
advance), and four nodes on two cores are CPU-bound, so that was a tenth of a node's CPU.
Here: the calldata is encoded with eth_abi (selector and types computed once per
function), the simulation (``eth_estimateGas``) rides in one JSON-RPC batch with the
nonce and fee reads, the transaction is signed with eth_account and the receipt read over
one keep-alive ``http.client`` connection per thread, formatted as web3 formats it.

``QuickTxUnavailable`` means this path cannot do it (keyword arguments, an encoding doubt,
a chain without a base fee, an error answer it does not recognise): the caller takes the
web3 path, which still does everything (and reports errors as it always did).
"""

from __future__ import annotations

import http.client
import json
import select
import threading
from typing import Any
from urllib.parse import urlsplit

import eth_abi
from eth_utils import keccak
from web3._utils.method_formatters import receipt_formatter
from web3.datastructures import AttributeDict

from node.chain.errors import ChainUnreachable
from node.errors import ChainError

TIMEOUT_S = 30.0


class QuickTxUnavailable(Exception):
    """This transaction goes the web3 path."""


class RpcError(ValueError):
    """A JSON-RPC error answer: ``str`` is its message (what ``_nonce_taken`` reads),
    ``data`` its revert data if any (what ``Sender.rejected`` decodes)."""

    def __init__(self, error: Any) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        super().__init__(str(error.get("message", error)))
        data = error.get("data")
        self.data = data if isinstance(data, str) else None


def _type_of(entry: dict[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_type_of(c) for c in entry["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


_functions: dict[str, tuple[bytes, list[str]]] = {}
_functions_lock = threading.Lock()


def calldata(fn: Any) -> str:
    """The calldata of a bound web3 contract function (``contract.functions.name(*args)``)."""
    abi = getattr(fn, "abi", None)
    if not isinstance(abi, dict) or getattr(fn, "kwargs", None) or abi.get("type") != "function":
        raise QuickTxUnavailable("not a plain positional function call")
    types = [_type_of(i) for i in abi.get("inputs", [])]
    signature = f"{abi['name']}({','.join(types)})"
    with _functions_lock:
        known = _functions.get(signature)
        if known is None:
            known = _functions[signature] = (keccak(text=signature)[:4], types)
    selector, types = known
    try:
        return "0x" + (selector + eth_abi.encode(types, list(fn.args))).hex()
    except Exception as exc:  # noqa: BLE001 - any doubt about the arguments: web3 validates
        raise QuickTxUnavailable(f"arguments: {exc}") from None


class RawRpc:
    """JSON-RPC over one keep-alive HTTP connection per thread; transport failures raise
    ``ChainUnreachable`` (as ``rpc_errors`` makes of web3's)."""

    def __init__(self, rpc_url: str) -> None:
        parts = urlsplit(rpc_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise QuickTxUnavailable(f"not an HTTP endpoint: {rpc_url}")
        self.rpc_url = rpc_url
        self._secure = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._local = threading.local()

    def call(self, method: str, params: list[Any]) -> Any:
        """One request's result; ``RpcError`` for an error answer, ``ChainError`` for an
        answer that is not JSON-RPC."""
        try:
            (answer,) = self.batch([(method, params)])
            return result_of(answer)
        except QuickTxUnavailable as exc:
            raise ChainError(f"{method} at {self.rpc_url}: {exc}") from None

    def batch(self, requests: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """The answers (result or error objects) of ``requests``, in order, in one POST."""
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
            for i, (m, p) in enumerate(requests)
        ]
        payload = json.dumps(body if len(body) > 1 else body[0]).encode()
        conn = self._connection()
        try:
            conn.request("POST", self._path, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data, status = response.read(), response.status
        except (OSError, http.client.HTTPException):
            self._drop()
            raise ChainUnreachable(self.rpc_url) from None
        if status != 200:
            raise QuickTxUnavailable(f"HTTP {status}")
        try:
            answers = json.loads(data)
        except ValueError:
            raise QuickTxUnavailable("not JSON") from None
        answers = answers if isinstance(answers, list) else [answers]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        if any(i not in by_id for i in range(len(requests))):
            raise QuickTxUnavailable("an answer is missing")
        return [by_id[i] for i in range(len(requests))]

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and _dropped(conn):
            self._drop()
            conn = None
        if conn is None:
            kind = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=TIMEOUT_S)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether the server closed an idle keep-alive connection (readable while idle: EOF),
    checked before reuse as urllib3 does: a request written to it would fail ambiguously."""
    sock = conn.sock
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def result_of(answer: dict[str, Any]) -> Any:
    if "error" in answer:
        raise RpcError(answer["error"])
    if "result" not in answer:
        raise QuickTxUnavailable("no result")
    return answer["result"]


def revert_error(answer: dict[str, Any]) -> RpcError | None:
    """The estimate's error answer if it is a revert with data that names it (custom error,
    ``Error(string)``, ``Panic``); None for a result. Anything else: web3 reports it."""
    if "error" not in answer:
        return None
    error = RpcError(answer["error"])
    if error.data is None or len(error.data) < 10 or not error.data.startswith("0x"):
        raise QuickTxUnavailable(f"estimate: {error}")
    return error


def format_receipt(raw: Any) -> Any:
    """A raw ``eth_getTransactionReceipt`` result as web3's ``get_transaction_receipt``
    returns it (ints, HexBytes, an AttributeDict)."""
    return AttributeDict.recursive(receipt_formatter(raw))
