"""Chain calls that ride out RPC outages: retried with capped backoff, the outage reported.

Reads (and actions the contract makes idempotent) go through ``call``, which retries
``ChainUnreachable`` until the endpoint answers again. Transactions whose effect must be
read back before they are sent again (commit, vote) go through ``send``: one attempt, since
a send that failed in transport may or may not have reached the chain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import trio

from node.chain.errors import ChainUnreachable
from node.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST_S = 0.25
RETRY_CAP_S = 2.0


def _nothing() -> None:
    return None


@dataclass
class ChainLink:
    """Outage bookkeeping shared by every chain call of one node."""

    metrics: Metrics
    on_change: Callable[[], None] = field(default=_nothing)  # e.g. rewrite status.json
    down_since: float | None = None  # wall-clock seconds when the current outage began
    _down_at: float = 0.0  # the same on the monotonic clock
    outages: int = 0  # outages that ended: a chain restart may have lost recent transactions

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking chain call off the trio loop; retry while the chain is unreachable."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return await self.send(fn, *args)
            except ChainUnreachable:
                self.metrics.inc("chain_retries_total")
                await trio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_S)

    async def send(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking chain call off the trio loop once; ``ChainUnreachable`` propagates."""
        try:
            result = await trio.to_thread.run_sync(lambda: fn(*args))
        except ChainUnreachable as exc:
            self._unreachable(exc)
            raise
        self._reachable()
        return result

    def describe(self) -> str | None:
        """``chain unreachable since <UTC time>`` during an outage, else None."""
        if self.down_since is None:
            return None
        since = datetime.fromtimestamp(self.down_since, UTC).isoformat(timespec="seconds")
        return f"chain unreachable since {since}"

    def _unreachable(self, exc: ChainUnreachable) -> None:
        if self.down_since is None:
            self.down_since, self._down_at = time.time(), time.monotonic()
            log.warning("%s; retrying (every %.0f s at most)", exc, RETRY_CAP_S)
            self.on_change()
        self.metrics.set("chain_unreachable_seconds", time.monotonic() - self._down_at)

    def _reachable(self) -> None:
        if self.down_since is None:
            return
        seconds = time.monotonic() - self._down_at
        self.down_since = None
        self.outages += 1
        self.metrics.set("chain_unreachable_seconds", 0)
        self.metrics.inc("chain_outages_total")
        self.metrics.inc("chain_unreachable_seconds_total", seconds)
        log.info("chain reachable again after %.1f s", seconds)
        self.on_change()
