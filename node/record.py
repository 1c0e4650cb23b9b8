"""A round's record (what the journal, status.json, `round show` and the explorer read) and
the per-phase timings in it."""

from __future__ import annotations

import time
from typing import Any

from node.chain.client import RoundStatus


def new_record(r: int, status: RoundStatus) -> dict[str, Any]:
    return {
        "round": r,
        "status": status.name.lower(),
        "committed": False,
        "verified": 0,
        "rejected": {},
        "model_cid": None,
        "finalized_cid": None,
        "accuracy": None,
        "reward": 0,
        "earned": 0,
        "proof": [],
        "timings": {},
    }


class Laps:
    """Seconds per phase of a round, each phase timed from the end of the one before; and
    the process's CPU seconds since the round began (all its threads and tasks)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.monotonic()
        self._cpu = time.process_time()

    def cpu_seconds(self) -> float:
        return round(time.process_time() - self._cpu, 3)

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.timings[phase] = round(now - self._clock, 3)
        self._clock = now
