"""A low-overhead CPU sampler for the opt-in profile (``FEDCHAIN_PROFILE_MODE=sample``).

cProfile charges every Python call, so deep pure-Python stacks (eth_abi, web3, trio,
py-libp2p) look several times costlier than they are. This sampler instead wakes every
``interval`` seconds in a thread of its own, reads each thread's CPU clock, and charges
the CPU a thread spent since the last tick to that thread's current stack. Stacks are
kept in the collapsed format flame-graph tools read: ``frame;frame;frame ms`` per line,
outermost first, the value in CPU milliseconds; ``python -m node.sampling FILES`` ranks
frames by own and inclusive CPU.

Bias: the sampler thread needs the GIL to read the stacks, and gets it when the running
thread releases it, mostly in a socket call or trio's I/O wait. A short burst of Python
work is charged to the syscall that ends it (``send``/``recv`` under the task that did the
work), so read inclusive figures of tasks, not the self time of syscall frames.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType

_MAX_DEPTH = 60


def _label(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        at = path.rfind(marker)
        if at >= 0:
            path = path[at + len(marker) :]
            break
    return f"{code.co_name} ({path}:{code.co_firstlineno})".replace(";", ",")


def _stack(frame: FrameType | None) -> str:
    frames: list[str] = []
    while frame is not None and len(frames) < _MAX_DEPTH:
        frames.append(_label(frame))
        frame = frame.f_back
    return ";".join(reversed(frames))


class Sampler:
    """Charges every thread's CPU time to its stack, ``interval`` seconds at a time."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.ms: defaultdict[str, float] = defaultdict(float)
        self._seen: dict[int, float] = {}  # thread ident -> its CPU clock at the last tick
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            frames = sys._current_frames()
            with self._lock:
                for ident, frame in frames.items():
                    if ident != me:
                        self._charge(ident, frame)

    def _charge(self, ident: int, frame: FrameType) -> None:
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, OverflowError):  # the thread ended in between
            return
        spent = cpu - self._seen.get(ident, cpu)
        self._seen[ident] = cpu
        if spent > 0:
            name = "main" if ident == threading.main_thread().ident else "thread"
            self.ms[f"{name};{_stack(frame)}"] += spent * 1000

    def dump(self, path: Path) -> None:
        with self._lock:
            ranked = sorted(self.ms.items(), key=lambda item: -item[1])
        partial = path.with_suffix(".part")
        partial.write_text("".join(f"{stack} {ms:.1f}\n" for stack, ms in ranked))
        partial.replace(path)

    def finish(self, path: Path) -> None:
        self.stop()
        self.dump(path)


def load(paths: list[Path]) -> dict[str, float]:
    """Collapsed stacks of one or more ``.stacks`` files, summed."""
    total: defaultdict[str, float] = defaultdict(float)
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, ms = line.rpartition(" ")
            if stack:
                total[stack] += float(ms)
    return total


def ranked(
    stacks: dict[str, float], top: int, match: str = ""
) -> dict[str, list[tuple[str, float]]]:
    """The ``top`` frames by own CPU (``self``) and by CPU under them (``inclusive``,
    each frame counted once per stack); ``match`` keeps the frames containing it."""
    own: defaultdict[str, float] = defaultdict(float)
    under: defaultdict[str, float] = defaultdict(float)
    for stack, ms in stacks.items():
        frames = stack.split(";")
        own[frames[-1]] += ms
        for frame in set(frames):
            under[frame] += ms

    def pick(table: dict[str, float]) -> list[tuple[str, float]]:
        rows = [(frame, ms) for frame, ms in table.items() if match in frame]
        return sorted(rows, key=lambda row: -row[1])[:top]

    return {"self": pick(own), "inclusive": pick(under)}


def main(argv: list[str] | None = None) -> int:
    """``python -m node.sampling FILE.stacks ... [--top N] [--match TEXT]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m node.sampling", description=main.__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only frames whose label contains this")
    args = parser.parse_args(argv)
    stacks = load(args.files)
    total = sum(stacks.values())
    print(f"{total / 1000:.2f} CPU-s in {len(args.files)} file(s)")
    for kind, rows in ranked(stacks, args.top, args.match).items():
        print(f"-- {kind}")
        for frame, ms in rows:
            print(f"{ms / 1000:9.3f} s {100 * ms / total:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
