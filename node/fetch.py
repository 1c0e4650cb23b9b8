"""Fetching a committed blob before the exchange deadline, whoever holds it by then."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

from node.errors import FedchainError, UpdateRejected
from node.metrics import Metrics
from node.p2p.network import PeerNetwork

log = logging.getLogger(__name__)

FIRST_ATTEMPT_TIMEOUT = 5.0
# Test fault: ``FEDCHAIN_SLOW_FETCH=<author address>:<round>`` stands in for a link too slow
# to bring that author's update of that round from anyone before the exchange deadline.
# Unset, this is a dictionary lookup and nothing else (like node/faults.py).
SLOW_ENV = "FEDCHAIN_SLOW_FETCH"
Providers = Callable[[], Awaitable[list[str]]]  # peer ids to ask, re-read before each try


async def fetch_with_retries(
    net: PeerNetwork,
    cid: str,
    providers: Providers,
    deadline: float,
    fetch_timeout: float,
    metrics: Metrics,
) -> bytes:
    """The blob ``cid`` from ``providers()``, retrying until ``deadline`` (trio clock).

    Attempts grow (5, 10, 20 s ... up to ``fetch_timeout``) and each re-reads the
    providers, so a later attempt asks the peers announced meanwhile: one attempt
    spending the whole window on a silent author would miss a blob other honest nodes
    already hold, and split the set of updates honest nodes include.
    Raises UpdateRejected("unavailable") at the deadline.
    """
    last_error = "no attempt before the exchange deadline"
    attempt = 0
    while trio.current_time() < deadline:
        peers = await providers()
        budget = FIRST_ATTEMPT_TIMEOUT * 2**attempt
        attempt += 1
        timeout = max(1.0, min(fetch_timeout, budget, deadline - trio.current_time()))
        try:
            started = trio.current_time()
            blob = await net.fetch_blob(cid, peers, timeout)
            metrics.inc("fetch_seconds_sum", trio.current_time() - started)
            metrics.inc("fetch_seconds_count")
            metrics.inc("bytes_fetched_total", len(blob))
            return blob
        except FedchainError as exc:
            last_error = str(exc)
            # the exchange cancels a fetch at its deadline: why attempts failed shows here
            log.debug("fetch %s: attempt %d: %s", cid, attempt, exc)
            metrics.inc("fetch_retries_total")
            await trio.sleep(min(1.0, max(0.0, deadline - trio.current_time())))
    raise UpdateRejected("unavailable", last_error)


def slow_link(author: str, round_id: int) -> bool:
    want = os.environ.get(SLOW_ENV)
    return want is not None and want.lower() == f"{author}:{round_id}".lower()


async def stalled_until(deadline: float) -> NoReturn:
    """What a fetch over a too-slow link comes to: nothing by ``deadline``."""
    await trio.sleep_until(deadline)
    raise UpdateRejected("unavailable", f"no blob by the exchange deadline ({SLOW_ENV})")
