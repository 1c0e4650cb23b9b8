"""JSON-RPC over one keep-alive ``http.client`` connection per thread: the transport of
the raw paths that skip web3.py for CPU (node/chain/quick_tx.py for transactions,
node/chain/watch_reads.py for views and logs)."""

from __future__ import annotations

import http.client
import json
import select
import threading
from typing import Any
from urllib.parse import urlsplit

from node.chain.errors import ChainUnreachable
from node.errors import ChainError

TIMEOUT_S = 30.0


class RpcUnavailable(Exception):
    """The raw path cannot do it (not an HTTP endpoint, an answer that is not JSON-RPC):
    the caller takes the web3 path."""


class RpcError(ValueError):
    """A JSON-RPC error answer: ``str`` is its message (what ``_nonce_taken`` reads),
    ``data`` its revert data if any (what ``Sender.rejected`` decodes)."""

    def __init__(self, error: Any) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        super().__init__(str(error.get("message", error)))
        data = error.get("data")
        self.data = data if isinstance(data, str) else None


class RawRpc:
    """JSON-RPC over one keep-alive HTTP connection per thread; transport failures raise
    ``ChainUnreachable`` (as ``rpc_errors`` makes of web3's)."""

    def __init__(self, rpc_url: str, timeout: float = TIMEOUT_S) -> None:
        parts = urlsplit(rpc_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RpcUnavailable(f"not an HTTP endpoint: {rpc_url}")
        self.rpc_url = rpc_url
        self._secure = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._local = threading.local()

    def call(self, method: str, params: list[Any]) -> Any:
        """One request's result; ``RpcError`` for an error answer, ``ChainError`` for an
        answer that is not JSON-RPC."""
        try:
            (answer,) = self.batch([(method, params)])
            return result_of(answer)
        except RpcUnavailable as exc:
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
            raise RpcUnavailable(f"HTTP {status}")
        try:
            answers = json.loads(data)
        except ValueError:
            raise RpcUnavailable("not JSON") from None
        answers = answers if isinstance(answers, list) else [answers]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        if any(i not in by_id for i in range(len(requests))):
            raise RpcUnavailable("an answer is missing")
        return [by_id[i] for i in range(len(requests))]

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and _dropped(conn):
            self._drop()
            conn = None
        if conn is None:
            kind = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self._timeout)
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
        raise RpcUnavailable("no result")
    return answer["result"]
