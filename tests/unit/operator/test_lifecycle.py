"""`fedchain node wait|stop` against a real HTTP status endpoint and a real process.

The endpoint is a stdlib HTTP server in a thread that serves a status document the test
changes, standing in for a node's /status (the daemon's own server is trio-based and
tested in tests/unit/test_status_server.py); the process stopped is a real child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from node.errors import FedchainError
from node.operator.lifecycle import finished_rounds, stop_node, wait_for_rounds


class FakeNode:
    def __init__(self, data_dir: Path) -> None:
        self.doc: dict[str, Any] = {"pid": 0, "phase": "idle", "records": []}
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps(node.doc).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        (data_dir / "status.port").write_text(f"127.0.0.1:{self.server.server_address[1]}\n")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, r: int, status: str) -> None:
        self.doc["records"] = [*self.doc["records"], {"round": r, "status": status}]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeNode]:
    node = FakeNode(tmp_path)
    yield node
    node.server.shutdown()


def test_finished_rounds_counts_by_outcome() -> None:
    status = {"records": [{"round": 2, "status": "failed"}, {"round": 1, "status": "finalized"}]}
    assert finished_rounds(status, "finalized") == [1]
    assert finished_rounds(status, "failed") == [2]
    assert finished_rounds(status, "any") == [1, 2]


def test_wait_returns_once_enough_rounds_finalized(fake: FakeNode, tmp_path: Path) -> None:
    fake.add(1, "finalized")
    fake.add(2, "failed")
    seen: list[int] = []

    def progress(n: int) -> None:
        seen.append(n)
        if n == 1:
            fake.add(3, "finalized")

    assert wait_for_rounds(tmp_path, 2, 30, on_progress=progress) == [1, 3]
    assert seen == [1, 2]


def test_wait_times_out_with_the_node_phase(fake: FakeNode, tmp_path: Path) -> None:
    ticks = iter(range(0, 1000, 10))
    fake.doc["phase"] = "waiting for 3 participants, 2 active"
    with pytest.raises(FedchainError, match="0 finalized round.*of 1.*waiting for 3 participants"):
        wait_for_rounds(tmp_path, 1, 15, clock=lambda: float(next(ticks)))


def test_wait_fails_when_the_node_goes_away(fake: FakeNode, tmp_path: Path) -> None:
    calls = 0

    def progress(n: int) -> None:
        nonlocal calls
        calls += 1
        (tmp_path / "status.port").write_text("127.0.0.1:1\n")  # nothing listens there

    with pytest.raises(FedchainError, match="stopped while waiting"):
        wait_for_rounds(tmp_path, 1, 30, on_progress=progress)
    assert calls == 1


def test_wait_rejects_a_count_below_one(tmp_path: Path) -> None:
    with pytest.raises(FedchainError, match="at least 1"):
        wait_for_rounds(tmp_path, 0, 1)


def test_stop_terminates_the_process_the_endpoint_names(fake: FakeNode, tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    fake.doc["pid"] = child.pid
    assert stop_node(tmp_path, 10) == child.pid
    with pytest.raises(ProcessLookupError):  # gone (and reaped), not merely signalled
        os.kill(child.pid, 0)


def test_stop_without_a_running_node_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(FedchainError, match="no running node found"):
        stop_node(tmp_path, 1)


STUBBORN = """
import signal, sys, time
seen = []
def on_term(signum, frame):
    seen.append(signum)
    if len(seen) >= 2:  # like the node: the first SIGTERM starts serving out, the second stops
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def stubborn(fake: FakeNode) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    fake.doc["pid"] = child.pid
    return child


def test_stop_now_sends_the_second_sigterm(fake: FakeNode, tmp_path: Path) -> None:
    graceful = stubborn(fake)
    with pytest.raises(FedchainError, match="still running"):
        stop_node(tmp_path, 2)  # one SIGTERM: it keeps going (serving its blobs)
    graceful.kill()
    graceful.wait()
    hurried = stubborn(fake)
    assert stop_node(tmp_path, 10, now=True) == hurried.pid
    with pytest.raises(ProcessLookupError):
        os.kill(hurried.pid, 0)
