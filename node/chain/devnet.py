"""A local anvil devnet as a detached background process whose state survives restarts.

Files in the data directory: ``state.json`` (anvil ``--state``: loaded at start, dumped every
second and on SIGTERM), ``anvil.pid``, ``anvil.log``, ``anvil.json`` (anvil's
``--config-out``: the pre-funded accounts) and ``devnet.json`` (host, port, RPC URL).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.chain.errors import AnvilMissing, ChainUnreachable, DevnetError, PortInUse

DEVNET_DIR = Path(__file__).resolve().parents[2] / "devnet"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
# anvil's shortest dump interval (whole seconds; 0 panics): a kill -9 loses at most the
# last second of blocks. See docs/protocol.md for what the nodes do about it.
STATE_INTERVAL_S = 1
# anvil derives the pre-funded accounts from this mnemonic (its default, pinned here) at
# m/44'/60'/0'/0/i, i < --accounts: index 0 deploys, any number of nodes get funded keys.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_ACCOUNTS = 10
MAX_ACCOUNTS = 1000
_PLATFORM_BINARY = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
_NPM_SHIM = "node_modules/.bin/anvil"


@dataclass(frozen=True)
class Devnet:
    """A running devnet."""

    data_dir: Path
    host: str
    port: int
    pid: int
    chain_id: int
    accounts: list[tuple[str, str]]  # (address, private key), pre-funded by anvil

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class DevnetStatus:
    """What ``status`` found in a data directory."""

    running: bool
    rpc_url: str | None = None
    pid: int | None = None
    block_number: int | None = None
    chain_id: int | None = None


def anvil_binary() -> Path:
    """The anvil executable: ``$FEDCHAIN_ANVIL``, else the one npm installed in devnet/."""
    override = os.environ.get("FEDCHAIN_ANVIL")
    candidates = [Path(override)] if override else []
    candidates += [DEVNET_DIR / _PLATFORM_BINARY, DEVNET_DIR / _NPM_SHIM]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise AnvilMissing(
        f"anvil not found in {DEVNET_DIR / 'node_modules'}: run `npm ci` in devnet/ "
        "(or `make setup` / `make demo`)"
    )


def up(
    data_dir: Path,
    port: int = DEFAULT_PORT,
    *,
    host: str = DEFAULT_HOST,
    timeout: float = 30.0,
    block_time: float | None = None,
    accounts: int = DEFAULT_ACCOUNTS,
) -> Devnet:
    """Start anvil in the background (or return the one already running from ``data_dir``).

    ``block_time`` adds an empty block every ``block_time`` seconds to mining on every
    transaction, so the chain clock keeps moving while nobody transacts. ``accounts``:
    how many pre-funded accounts anvil derives from its test mnemonic (a running devnet
    keeps the number it was started with).
    """
    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise DevnetError(f"accounts must be in [1, {MAX_ACCOUNTS}], got {accounts}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    running = _running_pid(data_dir)
    if running is not None:
        record = _read_record(data_dir)
        if record.get("port") == port and record.get("host") == host:
            return _connect(data_dir, host, port, running, timeout)
        raise DevnetError(
            f"a devnet from {data_dir} already runs at {record.get('rpc_url')}: "
            "`fedchain devnet down` first to move it"
        )
    _check_port_free(host, port)
    binary = anvil_binary()
    cmd = [
        str(binary),
        "--host",
        host,
        "--port",
        str(port),
        "--state",
        str(data_dir / "state.json"),
        "--state-interval",
        str(STATE_INTERVAL_S),
        "--config-out",
        str(data_dir / "anvil.json"),
        "--mnemonic",
        ANVIL_MNEMONIC,
        "--accounts",
        str(accounts),
    ]
    if block_time is not None:
        # Mixed mining: transactions still mine at once, and an empty block every
        # ``block_time`` seconds keeps the chain clock moving while nobody transacts
        # (deadlines are judged by block timestamps).
        cmd += ["--block-time", str(block_time), "--mixed-mining"]
    with open(data_dir / "anvil.log", "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI that started it
            cwd=data_dir,
        )
    (data_dir / "anvil.pid").write_text(f"{proc.pid}\n")
    rpc_url = f"http://{host}:{port}"
    record = {"host": host, "port": port, "rpc_url": rpc_url, "pid": proc.pid}
    (data_dir / "devnet.json").write_text(json.dumps(record, indent=2) + "\n")
    try:
        return _connect(data_dir, host, port, proc.pid, timeout, proc)
    except DevnetError:
        _terminate(proc.pid, 5.0)
        (data_dir / "anvil.pid").unlink(missing_ok=True)
        raise


def down(data_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the devnet of ``data_dir`` (anvil dumps its state first); False if none ran."""
    data_dir = Path(data_dir)
    pid = _running_pid(data_dir)
    if pid is not None:
        _terminate(pid, timeout)
    (data_dir / "anvil.pid").unlink(missing_ok=True)
    return pid is not None


def status(data_dir: Path) -> DevnetStatus:
    """Whether the devnet of ``data_dir`` runs, where, and at which block."""
    data_dir = Path(data_dir)
    pid = _running_pid(data_dir)
    if pid is None:
        return DevnetStatus(running=False)
    rpc_url = str(_read_record(data_dir).get("rpc_url", ""))
    try:
        block = int(rpc_call(rpc_url, "eth_blockNumber"), 16)
        chain_id = int(rpc_call(rpc_url, "eth_chainId"), 16)
    except ChainUnreachable:
        return DevnetStatus(running=True, rpc_url=rpc_url, pid=pid)
    return DevnetStatus(
        running=True, rpc_url=rpc_url, pid=pid, block_number=block, chain_id=chain_id
    )


def increase_time(rpc_url: str, seconds: int) -> int:
    """Move the devnet's clock forward and mine a block; returns the new block timestamp."""
    rpc_call(rpc_url, "evm_increaseTime", [seconds])
    rpc_call(rpc_url, "evm_mine")
    block = rpc_call(rpc_url, "eth_getBlockByNumber", ["latest", False])
    return int(block["timestamp"], 16)


def rpc_call(
    rpc_url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0
) -> Any:
    """One JSON-RPC call over HTTP; ``ChainUnreachable`` if nothing answers."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        raise ChainUnreachable(rpc_url) from None
    if "error" in reply:
        raise DevnetError(f"{method} failed at {rpc_url}: {reply['error'].get('message')}")
    return reply["result"]


def _connect(
    data_dir: Path,
    host: str,
    port: int,
    pid: int,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> Devnet:
    rpc_url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise DevnetError(f"anvil exited with code {proc.returncode}: {_log_tail(data_dir)}")
        try:
            chain_id = int(rpc_call(rpc_url, "eth_chainId", timeout=1.0), 16)
            break
        except ChainUnreachable:
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"anvil did not answer at {rpc_url} within {timeout:.0f}s: "
                    f"{_log_tail(data_dir)}"
                ) from None
            time.sleep(0.1)
    return Devnet(
        data_dir=data_dir,
        host=host,
        port=port,
        pid=pid,
        chain_id=chain_id,
        accounts=_accounts(data_dir),
    )


def _accounts(data_dir: Path) -> list[tuple[str, str]]:
    from eth_utils import to_checksum_address  # not at the top: `devnet status` stays fast

    path = data_dir / "anvil.json"
    for _ in range(50):  # anvil writes the file right after it starts listening
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            config = json.loads(path.read_text())
            pairs = zip(config["available_accounts"], config["private_keys"], strict=True)
            return [(to_checksum_address(a), k) for a, k in pairs]
        time.sleep(0.05)
    raise DevnetError(f"anvil did not write its accounts to {path}")


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(
                f"port {port} on {host} is in use: stop whatever listens there "
                "(`fedchain devnet down`?) or pick another --port"
            ) from None


def _running_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "anvil.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _is_anvil(pid) else None


def _is_anvil(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) anvil process."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and b"anvil" in cmdline


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_anvil(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


def _read_record(data_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((data_dir / "devnet.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _log_tail(data_dir: Path, lines: int = 3) -> str:
    try:
        text = (data_dir / "anvil.log").read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
