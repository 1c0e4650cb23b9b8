"""KuboPinner against an API address where nothing listens: failures are counted, not raised.

No Kubo HTTP daemon is available to the tests, so a successful pin is not exercised.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import urllib.parse
from collections import Counter

import pytest
import trio

from node.pinning import KuboPinner
from node.store.cid import compute_cid
from tests.integration.ports import free_port


def test_unreachable_kubo_api_is_logged_and_counted_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics: Counter[str] = Counter()
    pinner = KuboPinner(f"/ip4/127.0.0.1/tcp/{free_port()}", metrics=metrics, timeout=5)

    async def scenario() -> list[bool]:
        return [await pinner.pin(b"round 1 update"), await pinner.pin(b"")]

    with caplog.at_level(logging.WARNING, logger="node.pinning"):
        assert trio.run(scenario) == [False, False]
    assert metrics["pin.failed"] == 2
    assert metrics["pin.ok"] == 0
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2
    assert all("\n" not in line for line in failures)


def test_bad_api_address_is_a_counted_failure() -> None:
    pinner = KuboPinner("not a multiaddr")
    assert trio.run(pinner.pin, b"x") is False
    assert pinner.metrics["pin.failed"] == 1


class _FakeKuboAdd(http.server.BaseHTTPRequestHandler):
    """Answers /api/v0/add as Kubo does, with the CID the test sets; records the query."""

    answer_cid = ""
    queries: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        url = urllib.parse.urlparse(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).queries.append({"path": [url.path], **urllib.parse.parse_qs(url.query)})
        body = json.dumps({"Name": "blob", "Hash": type(self).answer_cid, "Size": "1"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode() + b"\n")

    def log_message(self, *args: object) -> None:
        pass


def test_request_asks_for_cidv1_raw_leaves_and_pin_and_checks_the_cid() -> None:
    """The HTTP request shape only (a stub server, not Kubo)."""
    data = b"finalized model"
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeKuboAdd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        pinner = KuboPinner(f"/ip4/127.0.0.1/tcp/{server.server_port}", timeout=5)
        _FakeKuboAdd.answer_cid = compute_cid(data)
        assert trio.run(pinner.pin, data) is True
        _FakeKuboAdd.answer_cid = compute_cid(b"something else")
        assert trio.run(pinner.pin, data) is False
    finally:
        server.shutdown()
        server.server_close()
    assert pinner.metrics == Counter({"pin.ok": 1, "pin.failed": 1, "pin.cid_mismatch": 1})
    query = _FakeKuboAdd.queries[0]
    assert query["path"] == ["/api/v0/add"]
    assert query["cid-version"] == ["1"]
    # ipfshttpclient sends Python's "True"; Kubo parses flags with Go's strconv.ParseBool
    go_true = {"1", "t", "T", "TRUE", "true", "True"}
    assert query["raw-leaves"][0] in go_true
    assert query["pin"][0] in go_true
    assert query["chunker"] == ["size-262144"]
