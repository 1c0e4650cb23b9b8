"""Stop a running node, or wait until it has finished some rounds (for scripts).

Both talk to the node's local status endpoint only; neither needs the key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.errors import FedchainError
from node.node_status import fetch_status

POLL_S = 0.5


def finished_rounds(status: dict[str, Any], outcome: str) -> list[int]:
    """Rounds the node recorded with status ``outcome`` ("finalized", "failed" or "any")."""
    return sorted(
        int(r["round"])
        for r in status.get("records", [])
        if r.get("done", True) and (outcome == "any" or r.get("status") == outcome)
    )


def wait_for_rounds(
    data_dir: Path,
    count: int,
    timeout: float,
    *,
    outcome: str = "finalized",
    on_progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[int]:
    """Block until the node in ``data_dir`` recorded ``count`` rounds with ``outcome``.

    A node that is still starting (no endpoint yet) is waited for too; a node whose
    endpoint answered once and then vanished is an error (it stopped).
    """
    if count < 1:
        raise FedchainError(f"--rounds must be at least 1, got {count}")
    deadline = clock() + timeout
    seen_running = False
    last = -1
    while True:
        try:
            status = fetch_status(data_dir)
            seen_running = True
        except FedchainError:
            if seen_running:
                raise FedchainError(f"the node in {data_dir} stopped while waiting") from None
            status = {}
        done = finished_rounds(status, outcome)
        if len(done) != last and on_progress is not None:
            on_progress(len(done))
        last = len(done)
        if len(done) >= count:
            return done
        if clock() >= deadline:
            state = status.get("phase", "not answering")
            raise FedchainError(
                f"timed out after {timeout:.0f} s: the node in {data_dir} has {len(done)} "
                f"{outcome} round(s) of {count} (it is {state}); see `fedchain node status`"
            )
        time.sleep(POLL_S)


NOW_AFTER_S = 1.0  # with --now: the second SIGTERM, once the first was taken in


def stop_node(data_dir: Path, timeout: float, *, force: bool = False, now: bool = False) -> int:
    """SIGTERM (SIGKILL with ``force``) the node in ``data_dir``; wait until it exits.

    Returns its pid. After a commit the node keeps serving its blobs until the round's
    exchange is over, so a graceful stop can take up to that long; ``now`` sends a second
    SIGTERM, which the node takes as "stop at once" (still a clean stop: state on disk).
    """
    pid = int(fetch_status(data_dir)["pid"])
    try:
        os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    except ProcessLookupError:
        return pid
    started = time.monotonic()
    second_sent = not now
    while time.monotonic() < started + timeout:
        if not _alive(pid):
            return pid
        if not second_sent and time.monotonic() >= started + NOW_AFTER_S:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            second_sent = True
        time.sleep(POLL_S / 5)
    raise FedchainError(
        f"node pid {pid} still running {timeout:.0f} s after SIGTERM; `--force` kills it"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
