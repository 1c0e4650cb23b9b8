"""The node's local HTTP endpoint: GET /metrics (Prometheus text) and GET /status (JSON).

A deliberately tiny HTTP/1.0 responder on trio (no thread): one request per connection,
loopback by default. The bound port is written to ``<data_dir>/status.port``.
``read_request`` and ``response`` are shared with the control endpoint (node/control.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger(__name__)
MAX_REQUEST = 8192  # request line and headers
MAX_BODY = 16384
READ_TIMEOUT_S = 5.0
PORT_FILE = "status.port"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""


class BadRequest(Exception):
    """A request this server will not read; ``status`` is the HTTP status line."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def read_request(stream: trio.abc.ReceiveStream, max_body: int = 0) -> Request:
    """One request: line, headers and (up to ``max_body`` bytes) body; BadRequest if not."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_REQUEST:
            raise BadRequest("431 Request Header Fields Too Large", "headers too large")
        chunk = await stream.receive_some(4096)
        if not chunk:
            if b"\r\n" in data and data.startswith(b"GET "):
                break  # a bare "GET /x HTTP/1.0\r\n" from a minimal client
            raise BadRequest("400 Bad Request", "incomplete request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2:
        raise BadRequest("400 Bad Request", "malformed request line")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest("400 Bad Request", "bad Content-Length") from None
    if length < 0 or length > max_body:
        raise BadRequest("413 Payload Too Large", f"body over {max_body} bytes")
    while len(body) < length:
        chunk = await stream.receive_some(min(4096, length - len(body)))
        if not chunk:
            raise BadRequest("400 Bad Request", "body shorter than Content-Length")
        body += chunk
    return Request(parts[0], parts[1], headers, body[:length])


def route(path: str, metrics: Callable[[], str], status: Callable[[], str]) -> bytes:
    if path == "/metrics":
        return response("200 OK", "text/plain; version=0.0.4", metrics().encode())
    if path == "/status":
        return response("200 OK", "application/json", status().encode())
    return response("404 Not Found", "text/plain", b"try /metrics or /status\n")


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
            with trio.move_on_after(READ_TIMEOUT_S):
                try:
                    request = await read_request(stream)
                except BadRequest as exc:
                    reply = response(exc.status, "text/plain", f"{exc.reason}\n".encode())
                else:
                    if request.method == "GET":
                        reply = route(request.path, metrics, status)
                    else:
                        reply = response("400 Bad Request", "text/plain", b"GET only\n")
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
