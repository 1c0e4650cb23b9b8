"""`fedchain demo --explorer`: the round explorer as a process next to the demo's nodes.

It runs on the demo's deployment with every node's status URL, so round pages show what
each node verified. It lives as long as the demo's devnet: stopped with it
(``--stop-devnet``), else left up for inspection and stopped by the next demo run, which
finds it by the pid file in DATA/demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from node.demo.options import DemoOptions
from node.demo.processes import NodeProcess
from node.errors import ConfigError
from node.status_server import PORT_FILE

PID_FILE = "explorer.pid"
LOG_FILE = "explorer.log"


@dataclass
class ExplorerProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        """Whether it answers /healthz (any HTTP answer: 503 until its index has data)."""
        try:
            with urllib.request.urlopen(self.url + "healthz", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def reporting_nodes(self, r: int) -> set[str]:
        """Nodes whose record of round ``r`` the explorer indexed (lower-case addresses)."""
        try:
            with urllib.request.urlopen(f"{self.url}api/rounds/{r}", timeout=5) as answer:
                return {str(a).lower() for a in json.load(answer).get("reporting_nodes", [])}
        except (OSError, ValueError):
            return set()

    def catch_up(self, rounds: set[int], nodes: set[str], timeout: float = 30.0) -> bool:
        """Wait (bounded) until the explorer indexed every node's record of ``rounds``: the
        records come from the nodes' status endpoints, gone once the demo stops the nodes."""
        wanted = {a.lower() for a in nodes}
        pending = set(rounds)
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            pending = {r for r in pending if not wanted <= self.reporting_nodes(r)}
            if not pending:
                return True
            time.sleep(1.0)
        return False

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""


def node_status_urls(node_dirs: list[Path]) -> list[str] | None:
    """Every node's status URL, or None while a node has not bound its endpoint yet."""
    urls = []
    for data_dir in node_dirs:
        try:
            address = (data_dir / PORT_FILE).read_text().strip()
        except OSError:
            return None
        if not address:
            return None
        urls.append(f"http://{address}/status")
    return urls


def start_explorer(
    demo_dir: Path, deployment: Path, rpc_url: str, port: int, node_urls: list[str]
) -> ExplorerProcess:
    data_dir = demo_dir / "explorer"
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "node", "explorer", "--deployment", str(deployment),
           "--rpc-url", rpc_url, "--port", str(port), "--data-dir", str(data_dir)]  # fmt: skip
    for url in node_urls:
        cmd += ["--node", url]
    log_path = demo_dir / LOG_FILE
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # Ctrl-C in the demo's terminal is the demo's to handle
        )
    (demo_dir / PID_FILE).write_text(f"{process.pid}\n")
    return ExplorerProcess(process, f"http://127.0.0.1:{port}/", log_path)


def stop_explorer(explorer: ExplorerProcess, demo_dir: Path, timeout: float = 10.0) -> None:
    if explorer.running():
        explorer.process.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully
        try:
            explorer.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            explorer.process.kill()
            explorer.process.wait()
    (demo_dir / PID_FILE).unlink(missing_ok=True)


def open_explorer(
    opts: DemoOptions, deployment: Path, rpc_url: str, nodes: list[NodeProcess], console: Console
) -> ExplorerProcess | None:
    """Start the explorer once every node serves its status endpoint (the explorer reads
    each node's verdicts from it); None until then."""
    urls = node_status_urls([n.data_dir for n in nodes])
    if urls is None:
        return None
    explorer = start_explorer(opts.nodes_dir, deployment, rpc_url, opts.explorer_port, urls)
    console.print(f"round explorer: {explorer.url} (log: {explorer.log_path})")
    return explorer


def close_explorer(opts: DemoOptions, explorer: ExplorerProcess, console: Console) -> None:
    """The explorer goes with the devnet: stopped with it, else left up to inspect it."""
    if not explorer.running():
        console.print(
            f"[red]the round explorer exited {explorer.process.returncode}:[/]\n"
            f"{explorer.log_tail()}"
        )
    if opts.stop_devnet or not explorer.running():
        stop_explorer(explorer, opts.nodes_dir)
        return
    console.print(
        f"round explorer keeps running at {explorer.url} (pid {explorer.process.pid}; "
        "the next demo stops it)"
    )


def leftover_pid(demo_dir: Path) -> int | None:
    """The pid of an explorer an earlier demo left running, if that process still is one
    (a pid file outlives reboots; the pid may belong to another process by now)."""
    try:
        pid = int((demo_dir / PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    args = [a.decode(errors="replace") for a in cmdline]
    if "explorer" in args and str(demo_dir / "explorer") in args:
        return pid
    return None


def stop_leftover(demo_dir: Path, timeout: float = 10.0) -> None:
    """Stop the explorer an earlier demo left running on its (now replaced) devnet."""
    pid = leftover_pid(demo_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and leftover_pid(demo_dir) == pid:
                time.sleep(0.1)
            if leftover_pid(demo_dir) == pid:
                os.kill(pid, signal.SIGKILL)
    (demo_dir / PID_FILE).unlink(missing_ok=True)


def check_explorer_port(port: int, demo_dir: Path) -> None:
    """The port is free, or held by the explorer of an earlier demo (stopped at start)."""
    if leftover_pid(demo_dir) is not None:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"explorer port {port} is in use (by `fedchain explorer`?): pass "
                f"--explorer-port {port + 1} or another free port"
            ) from None
