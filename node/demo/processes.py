"""Node processes the demo starts, and stops again whatever happens."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class NodeProcess:
    index: int
    address: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.data_dir / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""


def start_node(
    index: int,
    address: str,
    data_dir: Path,
    config: Path,
    extra_env: dict[str, str] | None = None,
) -> NodeProcess:
    """A node process: `fedchain node run`, or the simulation entry point (python -m
    node.attacks) when its config has a [simulation] table naming an attack."""
    entry = ["node.attacks"] if simulated(config) else ["node", "node", "run"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.update(extra_env or {})
    log = (data_dir / "node.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", *entry, "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    log.close()
    return NodeProcess(index, address, data_dir, process)


def simulated(config: Path) -> bool:
    """Whether ``config`` makes a Byzantine simulation node (an attack in [simulation])."""
    try:
        table = tomllib.loads(config.read_text()).get("simulation", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False  # the node itself reports an unreadable config
    return bool(table.get("attack"))


def stop_all(nodes: list[NodeProcess], timeout: float = 15.0, grace: float = 2.0) -> None:
    """Ctrl-C every node; a second one after ``grace`` seconds to those still serving their
    blobs until a round's exchange deadline (nobody is left to fetch them)."""
    for node in nodes:
        if node.running():
            node.process.send_signal(signal.SIGINT)
    second = time.monotonic() + grace
    for node in nodes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(timeout=max(0.0, second - time.monotonic()))
        if node.running():
            node.process.send_signal(signal.SIGINT)
    for node in nodes:
        try:
            node.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
