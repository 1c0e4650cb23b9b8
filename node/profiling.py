"""Opt-in CPU profile of a running node: ``FEDCHAIN_PROFILE=<dir>``.

When the variable names a directory, :func:`start` (called once at the top of the
daemon's trio run) profiles the trio thread and every thread started afterwards (trio's
worker threads run the chain calls) with cProfile on each thread's CPU clock (time
blocked in a wait, a lock or a socket read does not count), and writes the merged stats to
``<dir>/<data dir name>-<pid>.prof`` every ``FEDCHAIN_PROFILE_EVERY`` seconds (default
20) and when the node stops. Read it with ``python -m pstats`` or
``python -c "import pstats; pstats.Stats('f.prof').sort_stats('cumtime').print_stats(40)"``.
Off (no cost at all) when the variable is unset or empty. cProfile charges every Python
call, so deep pure-Python stacks (eth_abi, web3, trio, py-libp2p) look several times
costlier than they are: ``FEDCHAIN_PROFILE_MODE=sample`` charges each thread's CPU clock to
its stack every 10 ms instead (node/sampling.py), into ``<name>-<pid>.stacks`` (collapsed
stacks, CPU milliseconds).
"""

from __future__ import annotations

import cProfile
import gc
import logging
import os
import pstats
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from node.errors import ConfigError
from node.sampling import Sampler

log = logging.getLogger(__name__)

ENV = "FEDCHAIN_PROFILE"
EVERY_ENV = "FEDCHAIN_PROFILE_EVERY"
MODE_ENV = "FEDCHAIN_PROFILE_MODE"  # "cprofile" (default) or "sample" (node/sampling.py)

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


class _Snapshot:
    """What pstats.Stats loads: a profile's stats taken without disabling it (Profile's
    own create_stats disables the profiler, which would stop a running thread's profile)."""

    def __init__(self, profile: cProfile.Profile) -> None:
        self.profile = profile

    def create_stats(self) -> None:
        self.profile.snapshot_stats()
        self.stats = self.profile.stats  # type: ignore[attr-defined]


def _profiled_run(original: Any) -> Any:
    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            original(thread)
        finally:
            profile.disable()

    return run


def dump(path: Path) -> None:
    """Merge every thread's stats into ``path`` (written whole, then renamed)."""
    with _lock:
        profiles = list(_profiles)
    # the snapshot reads other threads' profiler tables: no collection (and so no
    # finalizer running Python code, which could switch threads) while it does
    enabled = gc.isenabled()
    gc.disable()
    try:
        stats: pstats.Stats | None = None
        for profile in profiles:
            if stats is None:
                stats = pstats.Stats(_Snapshot(profile))  # type: ignore[arg-type]
            else:
                stats.add(_Snapshot(profile))  # type: ignore[arg-type]
    finally:
        if enabled:
            gc.enable()
    if stats is None:
        return
    partial = path.with_suffix(".part")
    stats.dump_stats(str(partial))
    partial.replace(path)


def start(data_dir: Path) -> Path | None:
    """Start profiling when FEDCHAIN_PROFILE names a directory (call inside trio.run);
    returns the stats file, or None when profiling is off."""
    target = os.environ.get(ENV, "").strip()
    if not target:
        return None
    try:
        every = float(os.environ.get(EVERY_ENV, "20"))
    except ValueError:
        every = 0.0
    if not every > 0:
        raise ConfigError(f"{EVERY_ENV} must be a positive number of seconds")
    mode = os.environ.get(MODE_ENV, "cprofile").strip() or "cprofile"
    if mode not in ("cprofile", "sample"):
        raise ConfigError(f"{MODE_ENV} must be cprofile or sample, got {mode!r}")
    out = Path(target).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if mode == "sample":
        path = out / f"{data_dir.name}-{os.getpid()}.stacks"
        sampler = Sampler()
        sampler.start()
        trio.lowlevel.spawn_system_task(
            _dump_every, sampler.dump, sampler.finish, path, every, name="sample-dump"
        )
        log.info("sampling this node's CPU into %s every %.0f s", path, every)
        return path
    path = out / f"{data_dir.name}-{os.getpid()}.prof"
    main = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(main)
    threading.Thread.run = _profiled_run(threading.Thread.run)  # type: ignore[method-assign]
    main.enable()
    trio.lowlevel.spawn_system_task(_dump_every, dump, dump, path, every, name="profile-dump")
    log.info("profiling this node into %s every %.0f s", path, every)
    return path


async def _dump_every(
    write: Callable[[Path], None], final: Callable[[Path], None], path: Path, every: float
) -> None:
    try:
        while True:
            await trio.sleep(every)
            write(path)
    finally:
        final(path)  # the system nursery is cancelled when the node's run ends
