"""node.control: the running node's token-guarded local control endpoint (real sockets)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from node.control import (
    PORT_FILE,
    TOKEN_FILE,
    ControlError,
    Endpoint,
    find_node,
    send,
    serve_control,
)
from node.errors import FedchainError
from node.operator.keys import KeySource, running_node

ADDRESS = "0x" + "ab" * 20


async def fake_ops(op: str, args: dict[str, Any]) -> dict[str, Any]:
    if op == "stake" and args.get("amount") == 0:
        raise FedchainError("amount must be positive")
    return {"op": op, "args": args, "address": ADDRESS, "coordinator": "0xc0"}


def with_server(data_dir: Path, client: Callable[[], Any]) -> Any:
    """Run the control server, then ``client`` (blocking, in a thread) against it."""

    async def main() -> Any:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_control, data_dir, fake_ops)
            try:
                return await trio.to_thread.run_sync(client)
            finally:
                nursery.cancel_scope.cancel()

    return trio.run(main)


def raw(data_dir: Path, request: bytes) -> tuple[int, dict[str, Any]]:
    import socket

    host, _, port = (data_dir / PORT_FILE).read_text().strip().rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def post(token: str, body: bytes) -> bytes:
    return (
        f"POST /control HTTP/1.0\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_right_token_runs_the_op_and_files_go_with_the_server(tmp_path: Path) -> None:
    def client() -> tuple[dict[str, Any], int]:
        endpoint, note = find_node(tmp_path)
        assert note is None and endpoint is not None
        mode = stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode)
        return send(endpoint, "stake", {"amount": 5}), mode

    result, mode = with_server(tmp_path, client)
    assert result["op"] == "stake" and result["args"] == {"amount": 5}
    assert mode == 0o600
    assert not (tmp_path / TOKEN_FILE).exists() and not (tmp_path / PORT_FILE).exists()


def test_wrong_or_missing_token_is_401(tmp_path: Path) -> None:
    body = json.dumps({"op": "claim", "args": {}}).encode()

    def client() -> list[tuple[int, dict[str, Any]]]:
        no_auth = b"POST /control HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        return [raw(tmp_path, post("not-the-token", body)), raw(tmp_path, no_auth)]

    for status, answer in with_server(tmp_path, client):
        assert status == 401
        assert answer == {"error": f"bad or missing control token (see {TOKEN_FILE})"}


def test_client_with_a_wrong_token_gets_one_line_error(tmp_path: Path) -> None:
    def client() -> str:
        endpoint, _ = find_node(tmp_path)
        assert endpoint is not None
        forged = Endpoint(tmp_path, endpoint.host, endpoint.port, "forged")
        with pytest.raises(ControlError) as info:
            send(forged, "claim")
        return str(info.value)

    assert "bad or missing control token" in with_server(tmp_path, client)


def test_bad_ops_bodies_and_failures_get_error_json(tmp_path: Path) -> None:
    def client() -> list[tuple[int, dict[str, Any]]]:
        token = (tmp_path / TOKEN_FILE).read_text().strip()
        return [
            raw(tmp_path, post(token, b'{"op": "selfdestruct"}')),
            raw(tmp_path, post(token, b"not json")),
            raw(tmp_path, post(token, b'{"op": "stake", "args": {"amount": 0}}')),
            # the declared size is refused before any of the body is read
            raw(tmp_path, post(token, b"x" * 5000)[:-5000]),
            raw(
                tmp_path,
                f"GET /control HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode(),
            ),
        ]

    unknown, garbage, failed, huge, get = with_server(tmp_path, client)
    assert unknown[0] == 400 and "unknown op 'selfdestruct'" in unknown[1]["error"]
    assert garbage[0] == 400 and "body must be" in garbage[1]["error"]
    assert failed == (409, {"error": "amount must be positive"})
    assert huge[0] == 413
    assert get[0] == 404


def test_no_node_running_means_sign_locally(tmp_path: Path) -> None:
    assert find_node(tmp_path) == (None, None)
    (tmp_path / PORT_FILE).write_text("127.0.0.1:1\n")  # left by a killed node: nobody listens
    assert find_node(tmp_path) == (None, None)


def test_unreadable_token_falls_back_to_local_signing_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"coordinator": "0xc0"}))

    def client() -> tuple[Any, Any]:
        running = running_node(KeySource(node_dir=tmp_path), deployment)
        (tmp_path / TOKEN_FILE).unlink()
        return running, running_node(KeySource(node_dir=tmp_path), deployment)

    running, without_token = with_server(tmp_path, client)
    assert running is not None and running.token  # token readable: the node takes the op
    assert without_token is None
    err = capsys.readouterr().err
    assert f"the node in {tmp_path} is running but its control token" in err
    assert "signing locally" in err


def test_another_deployment_or_account_signs_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"coordinator": "0xdd"}))
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"coordinator": "0xC0"}))
    key = tmp_path / "k.hex"
    key.write_text("0x" + "22" * 32 + "\n")

    def client() -> tuple[Any, Any]:
        return (
            running_node(KeySource(node_dir=tmp_path), other),
            running_node(KeySource(node_dir=tmp_path, private_key_file=key), mine),
        )

    assert with_server(tmp_path, client) == (None, None)
    assert "runs another deployment" in capsys.readouterr().err
