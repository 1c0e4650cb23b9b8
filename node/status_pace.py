"""How often status.json is rewritten: a new round record at once, a phase change at most
once per ``MIN_INTERVAL_S`` (coalesced: the next write carries the latest phase)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import trio

MIN_INTERVAL_S = 1.0


@dataclass
class StatusPace:
    """When the status document was last written and whether a later phase waits."""

    written_at: float = -math.inf  # time.monotonic() of the last write
    records_version: int = -1  # the journal's records version then (NodeState.records_version)
    pending: bool = False  # a phase change not written yet
    flushing: bool = False  # a flusher task runs: writes may be deferred to it
    _due: trio.Event = field(default_factory=trio.Event)

    def at_once(self, records_version: int) -> bool:
        """Whether to write now: a new record, nothing to defer to, or the last write is
        old enough. Otherwise the write is left to the flusher."""
        if (
            not self.flushing
            or records_version != self.records_version
            or time.monotonic() - self.written_at >= MIN_INTERVAL_S
        ):
            return True
        self.pending = True
        self._due.set()
        return False

    def wrote(self, records_version: int) -> None:
        self.written_at, self.records_version, self.pending = (
            time.monotonic(),
            records_version,
            False,
        )

    async def next_due(self) -> None:
        """Until a deferred write is due (``MIN_INTERVAL_S`` after the last write)."""
        await self._due.wait()
        self._due = trio.Event()
        await trio.sleep(max(0.0, self.written_at + MIN_INTERVAL_S - time.monotonic()))
