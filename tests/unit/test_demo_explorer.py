"""`fedchain demo --explorer`: status URLs, the port check and finding a leftover explorer."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.demo.explorer import (
    PID_FILE,
    check_explorer_port,
    leftover_pid,
    node_status_urls,
    stop_leftover,
)
from node.demo.options import DemoOptions, check_options
from node.errors import ConfigError


def test_status_urls_wait_for_every_node(tmp_path: Path) -> None:
    dirs = [tmp_path / "node0", tmp_path / "node1"]
    for d in dirs:
        d.mkdir()
    (dirs[0] / "status.port").write_text("127.0.0.1:4001\n")
    assert node_status_urls(dirs) is None
    (dirs[1] / "status.port").write_text("127.0.0.1:4002\n")
    assert node_status_urls(dirs) == [
        "http://127.0.0.1:4001/status",
        "http://127.0.0.1:4002/status",
    ]


def test_a_busy_explorer_port_is_refused_with_the_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--explorer-port {port + 1}"):
            check_explorer_port(port, tmp_path)
    opts = DemoOptions(task="digits-mlp", data_root=tmp_path, explorer=True, explorer_port=8545)
    with pytest.raises(ConfigError, match="--explorer-port and --port are both 8545"):
        check_options(opts)


def _pretend_explorer(demo_dir: Path) -> subprocess.Popen[bytes]:
    """A process whose command line looks like the demo's explorer's."""
    code = "import time; time.sleep(60)"
    args = [sys.executable, "-c", code, "explorer", "--data-dir", str(demo_dir / "explorer")]
    process = subprocess.Popen(args)
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    while b"explorer" not in cmdline.read_bytes():  # until the child has exec'd
        time.sleep(0.01)
    return process


def test_only_the_demos_own_explorer_is_stopped(tmp_path: Path) -> None:
    (tmp_path / PID_FILE).write_text("not a pid\n")
    assert leftover_pid(tmp_path) is None
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    mine = _pretend_explorer(tmp_path)
    try:
        (tmp_path / PID_FILE).write_text(f"{stranger.pid}\n")  # a reused pid
        assert leftover_pid(tmp_path) is None
        stop_leftover(tmp_path)
        assert stranger.poll() is None
        (tmp_path / PID_FILE).write_text(f"{mine.pid}\n")
        assert leftover_pid(tmp_path) == mine.pid
        stop_leftover(tmp_path)
        assert mine.wait(timeout=10) is not None
        assert not (tmp_path / PID_FILE).exists()
    finally:
        for process in (stranger, mine):
            process.kill()
            process.wait()
