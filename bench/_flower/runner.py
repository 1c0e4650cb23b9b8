"""Flower's deployment engine on loopback, run from fedchain's venv as subprocesses.

One ``flower-superlink`` (insecure, in-memory state), one ``flower-supernode`` per
partition (``partition-id=i``), then ``flwr run`` submits the app in bench/_flower/app.
Every process comes from .venv-flower (`make bench-flower-env`) with the repository root
on PYTHONPATH and FLWR_HOME in a temp dir (nothing is written to ~/.flwr). The ServerApp
appends {round, t, accuracy} to <data_dir>/flower_rounds.json after each round's central
evaluation (round 0: the genesis model), so a round's time is the interval between two
entries: every SuperNode training (each in a fresh ``flwr-clientapp`` process, as the
deployment engine runs it), FedAvg and the evaluation.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FLOWER_VENV = ROOT / ".venv-flower"
APP_DIR = Path(__file__).resolve().parent / "app"
ROUND_TIMEOUT = 600.0
START_TIMEOUT = 180.0


def flower_bin(name: str) -> Path:
    path = FLOWER_VENV / "bin" / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make bench-flower-env` first")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flower-superlink exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.5)
    raise RuntimeError(f"flower-superlink not listening on {port} after {START_TIMEOUT} s")


def _env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{FLOWER_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "FLWR_HOME": str(work / "flwr-home"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _spawn(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=log.parent,
            start_new_session=True,  # its own group: superexec and clientapps stop with it
        )


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    return out + [g for c in out for g in _descendants(c)]


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the processes and everything they started (SuperNodes detach their SuperExec
    into its own session, so the process groups alone do not reach it)."""
    children = [c for p in procs for c in _descendants(p.pid)]
    _signal([p.pid for p in procs] + children, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal([p.pid], signal.SIGKILL)
            p.wait()
    time.sleep(1)
    _signal([c for c in children if _is_flower(c)], signal.SIGKILL)


def _is_flower(pid: int) -> bool:
    """Still one of ours (a pid is reused once its process is gone)."""
    try:
        return str(FLOWER_VENV).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def run_flower(
    data_dir: Path,
    work: Path,
    *,
    nodes: int,
    rounds: int,
    epochs: int,
    lr: float,
    batch_size: int,
) -> dict[str, Any]:
    """Run ``rounds`` FedAvg rounds; the ServerApp's per-round log and the run's details."""
    env = _env(work)
    home = work / "flwr-home"
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    (home / "config.toml").write_text(
        '[superlink]\ndefault = "bench"\n\n'
        f'[superlink.bench]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    log_file = data_dir / "flower_rounds.json"
    log_file.unlink(missing_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    try:
        superlink = [
            str(flower_bin("flower-superlink")),
            "--insecure",
            "--port",
            str(port),
            "--disable-runtime-dependency-installation",
        ]
        procs.append(_spawn(superlink, work / "superlink.log", env))
        _wait_listening(port, procs[0], work / "superlink.log")
        for i in range(nodes):
            supernode = [
                str(flower_bin("flower-supernode")),
                "--insecure",
                "--superlink",
                f"127.0.0.1:{port}",
                "--port",
                str(_free_port()),
                "--node-config",
                f"partition-id={i} num-partitions={nodes}",
            ]
            procs.append(_spawn(supernode, work / f"supernode{i}.log", env))
        run_config = (
            f"data-dir='{data_dir}' num-server-rounds={rounds} local-epochs={epochs} "
            f"lr={lr} batch-size={batch_size} min-nodes={nodes}"
        )
        submitted = subprocess.run(
            [str(flower_bin("flwr")), "run", str(APP_DIR), "bench", "--run-config", run_config]
            + ["--format", "json"],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if submitted.returncode != 0 or '"success": true' not in submitted.stdout:
            raise RuntimeError(f"flwr run failed:\n{submitted.stdout}\n{submitted.stderr}")
        run_id = json.loads(submitted.stdout)["run-id"]
        entries = _wait_rounds(log_file, rounds, procs, work)
    finally:
        _stop(procs)
    return {
        "run_id": run_id,
        "entries": entries,
        "started_at": started,
        "seconds_total": round(time.monotonic() - started, 1),
    }


def _wait_rounds(
    log_file: Path, rounds: int, procs: list[subprocess.Popen[bytes]], work: Path
) -> list[dict[str, float]]:
    deadline = time.monotonic() + START_TIMEOUT + ROUND_TIMEOUT * rounds
    entries: list[dict[str, float]] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            entries = json.loads(log_file.read_text())
        if len(entries) > rounds:
            return entries
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a Flower process exited (see {work}/*.log): {dead[0].args}")
        time.sleep(0.2)
    raise RuntimeError(f"Flower: {rounds} rounds not done in time ({len(entries) - 1} done)")
