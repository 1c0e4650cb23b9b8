"""The node's local control endpoint: operator commands for a running node's account.

The daemon owns its account's nonce. While it runs, ``fedchain stake|unstake|withdraw|
claim --node-dir DIR`` hand the operation to it instead of signing themselves, so the
node's own commits and votes and the operator's transactions never race.

- The daemon listens on 127.0.0.1 only (port in ``<data_dir>/control.port``), separately
  from the status endpoint, which may be bound to another interface for scraping.
- On start it writes a fresh random token to ``<data_dir>/control.token`` (mode 0600);
  every request carries it as ``Authorization: Bearer <token>``. Whoever can read the
  node's data directory can already read its keystore, so the token adds no new trust.
- ``POST /control`` with ``{"op": ..., "args": {...}}``; the answer is ``{"result": ...}``
  or ``{"error": "one line"}``. Bodies are bounded, reads have a deadline.

The client half (``find_node``, ``send``) uses the standard library only, so operator
commands stay fast to start.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import FedchainError

log = logging.getLogger(__name__)

TOKEN_FILE = "control.token"
PORT_FILE = "control.port"
HOST = "127.0.0.1"
PATH = "/control"
MAX_BODY = 4096
CONNECT_TIMEOUT_S = 2.0
# An op waits for its transactions' receipts (and for the node's own, which go first).
OP_TIMEOUT_S = 600.0
OPS = ("address", "stake", "unstake", "withdraw", "claim")


class ControlError(FedchainError):
    """The running node refused or failed an operator command."""


# ------------------------------------------------------------------ token and port files


def write_token(data_dir: Path) -> str:
    """A fresh random token in ``<data_dir>/control.token``, mode 0600 from the start."""
    token = secrets.token_urlsafe(32)
    path = data_dir / TOKEN_FILE
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT keeps the mode of a leftover temporary file
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token


def remove_files(data_dir: Path) -> None:
    for name in (TOKEN_FILE, PORT_FILE):
        (data_dir / name).unlink(missing_ok=True)


def authorized(headers: dict[str, str], token: str) -> bool:
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


# ------------------------------------------------------------------ client


@dataclass(frozen=True)
class Endpoint:
    data_dir: Path
    host: str
    port: int
    token: str


def find_node(data_dir: Path) -> tuple[Endpoint | None, str | None]:
    """The control endpoint of the node running in ``data_dir``, if one answers.

    Returns (endpoint, None) when the node runs and its token is readable, (None, note)
    when it runs but the token cannot be read (the note says why), (None, None) when no
    node runs there.
    """
    try:
        host, _, port_text = (data_dir / PORT_FILE).read_text().strip().rpartition(":")
        port = int(port_text)
    except (OSError, ValueError):
        return None, None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError:
        return None, None  # a leftover file of a node that was killed
    try:
        token = (data_dir / TOKEN_FILE).read_text().strip()
    except OSError as exc:
        return None, (
            f"note: the node in {data_dir} is running but its control token "
            f"{data_dir / TOKEN_FILE} is unreadable ({exc.strerror}): signing locally, "
            "which may race with the node's own transactions"
        )
    if not token:
        return None, f"note: {data_dir / TOKEN_FILE} is empty: signing locally"
    return Endpoint(data_dir, host, port, token), None


def send(endpoint: Endpoint, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``op`` in the node; its result, or ControlError with the node's one-line reason."""
    body = json.dumps({"op": op, "args": args or {}}).encode()
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=OP_TIMEOUT_S)
    try:
        conn.request(
            "POST",
            PATH,
            body=body,
            headers={
                "Authorization": f"Bearer {endpoint.token}",
                "Content-Type": "application/json",
            },
        )
        reply = conn.getresponse()
        text = reply.read(1 << 20)
    except (OSError, http.client.HTTPException) as exc:
        raise ControlError(
            f"the node in {endpoint.data_dir} did not answer the control request ({exc}); "
            "is it still running? (`fedchain node status --data-dir "
            f"{endpoint.data_dir}`)"
        ) from None
    finally:
        conn.close()
    try:
        answer = json.loads(text)
    except ValueError:
        raise ControlError(f"the node answered HTTP {reply.status} without JSON") from None
    if reply.status != 200 or "error" in answer:
        raise ControlError(str(answer.get("error", f"HTTP {reply.status}")))
    result: dict[str, Any] = answer["result"]
    return result


# ------------------------------------------------------------------ server

Execute = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _json_reply(status: str, document: dict[str, Any]) -> bytes:
    from node.status_server import response

    return response(status, "application/json", json.dumps(document).encode())


async def answer(request: Any, token: str, execute: Execute) -> bytes:
    """The HTTP reply to one control request."""
    if request.method != "POST" or request.path != PATH:
        return _json_reply("404 Not Found", {"error": f"POST {PATH} only"})
    if not authorized(request.headers, token):
        return _json_reply(
            "401 Unauthorized", {"error": f"bad or missing control token (see {TOKEN_FILE})"}
        )
    try:
        document = json.loads(request.body)
        op, args = document["op"], document.get("args", {})
        if not isinstance(op, str) or not isinstance(args, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _json_reply("400 Bad Request", {"error": 'body must be {"op": ..., "args": {}}'})
    if op not in OPS:
        return _json_reply(
            "400 Bad Request", {"error": f"unknown op {op!r}: one of {', '.join(OPS)}"}
        )
    try:
        return _json_reply("200 OK", {"result": await execute(op, args)})
    except FedchainError as exc:
        return _json_reply("409 Conflict", {"error": str(exc)})
    except Exception as exc:  # noqa: BLE001 - the node keeps running; the operator sees why
        log.exception("control op %s failed", op)
        return _json_reply("500 Internal Server Error", {"error": f"{op} failed: {exc!r}"})


async def serve_control(data_dir: Path, execute: Execute, *, task_status: Any = None) -> None:
    """Serve control requests on 127.0.0.1 until cancelled; the token files go with it."""
    import trio

    from node.status_server import READ_TIMEOUT_S, BadRequest, read_request

    token = write_token(data_dir)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(READ_TIMEOUT_S) as scope:
                try:
                    request = await read_request(stream, MAX_BODY)
                except BadRequest as exc:
                    await stream.send_all(_json_reply(exc.status, {"error": exc.reason}))
                    return
            if scope.cancelled_caught:
                return
            await stream.send_all(await answer(request, token, execute))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host=HOST)
    bound = listeners[0].socket.getsockname()[1]
    try:
        (data_dir / PORT_FILE).write_text(f"{HOST}:{bound}\n")
        log.info("control endpoint on %s:%d (token in %s)", HOST, bound, data_dir / TOKEN_FILE)
        if task_status is not None:
            task_status.started(bound)
        await trio.serve_listeners(handle, listeners)
    finally:
        remove_files(data_dir)


def _amount(args: dict[str, Any]) -> int:
    value = args.get("amount")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ControlError("amount must be a positive integer of token base units")
    return value


def _round(args: dict[str, Any]) -> int | None:
    value = args.get("round")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ControlError("round must be an integer")
    return value


def operator_ops(chain: Any, data_dir: Path, lock: Any) -> Execute:
    """The ops, run with the daemon's own ChainClient (its Sender serializes the nonce).

    ``lock`` (a trio.Lock) is shared with the daemon's automatic claims, so an operator's
    claim and the node's never send the same claim twice.
    """
    import trio

    from node.operator import rewards, staking

    def prepare(op: str, args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        if op == "address":
            return lambda: {
                "address": chain.address,
                "coordinator": chain.deployment.coordinator,
                "chain_id": chain.chain_id,
            }
        if op == "stake":
            amount = _amount(args)
            return lambda: staking.stake_more(chain, amount, data_dir)
        if op == "unstake":
            part = None if args.get("amount") is None else _amount(args)
            return lambda: staking.request_unstake(chain, part)
        if op == "withdraw":
            return lambda: staking.withdraw(chain)
        only, voter = _round(args), bool(args.get("voter", True))
        return lambda: rewards.claim_all(chain, data_dir, voter=voter, only=only)

    async def execute(op: str, args: dict[str, Any]) -> dict[str, Any]:
        work = prepare(op, args)
        if op == "address":
            return work()
        async with lock:
            log.info("control: %s %s", op, json.dumps(args, sort_keys=True))
            result = await trio.to_thread.run_sync(work)
        result["via"] = "node"
        return result

    return execute
