"""The node's local HTTP endpoint: GET /metrics (Prometheus text) and GET /status (JSON).

A deliberately tiny HTTP/1.0 responder on trio (no thread): one request per connection,
loopback by default. The bound port is written to ``<data_dir>/status.port``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger(__name__)
MAX_REQUEST = 8192
PORT_FILE = "status.port"


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def route(path: str, metrics: Callable[[], str], status: Callable[[], str]) -> bytes:
    if path == "/metrics":
        return _response("200 OK", "text/plain; version=0.0.4", metrics().encode())
    if path == "/status":
        return _response("200 OK", "application/json", status().encode())
    return _response("404 Not Found", "text/plain", b"try /metrics or /status\n")


async def serve_status(
    data_dir: Path,
    host: str,
    port: int,
    metrics: Callable[[], str],
    status: Callable[[], str],
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    async def handle(stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(5):
                request = b""
                while b"\r\n" not in request and len(request) < MAX_REQUEST:
                    chunk = await stream.receive_some(1024)
                    if not chunk:
                        break
                    request += chunk
                parts = request.split(b"\r\n", 1)[0].decode(errors="replace").split()
                if len(parts) >= 2 and parts[0] == "GET":
                    reply = route(parts[1], metrics, status)
                else:
                    reply = _response("400 Bad Request", "text/plain", b"GET only\n")
                await stream.send_all(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    (data_dir / PORT_FILE).write_text(f"{host}:{bound}\n")
    log.info("status endpoint on http://%s:%d/status and /metrics", host, bound)
    task_status.started(bound)
    await trio.serve_listeners(handle, listeners)


def status_url(data_dir: Path, path: str = "/status") -> str:
    try:
        address = (data_dir / PORT_FILE).read_text().strip()
    except OSError:
        from node.errors import FedchainError

        raise FedchainError(f"no running node found in {data_dir} (no {PORT_FILE})") from None
    return f"http://{address}{path}"
