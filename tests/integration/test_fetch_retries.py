"""fetch_with_retries over real py-libp2p hosts: a silent author does not eat the window.

No mocks. The deadline below is the protocol's exchange deadline, not a speed assertion.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio

from node.errors import UpdateRejected
from node.fetch import fetch_with_retries
from node.metrics import Metrics
from node.store.cid import compute_cid
from tests.integration.test_p2p_network import link, nodes, run

pytestmark = pytest.mark.integration

WINDOW = 20.0  # seconds until the exchange deadline


def test_a_provider_announced_during_the_first_attempt_is_asked_next(tmp_path: Path) -> None:
    """The author (a) withholds; b fetched the blob and announces itself while c's first
    attempt, aimed at a alone, is still running. A single attempt spanning the window
    (the old behaviour) fails; growing attempts re-read the providers and get it from b."""
    data = random.Random(7).randbytes(300_000)

    async def scenario() -> None:
        async with nodes(tmp_path, 3) as (a, b, c):
            cid = await b.add_blob(data)
            assert cid == compute_cid(data)
            await link(c, a)
            calls = 0

            async def providers() -> list[str]:
                nonlocal calls
                calls += 1
                if calls == 1:
                    return [a.peer_id]
                await link(c, b)  # b's announcement arrived: dial it, as the node does
                return sorted([a.peer_id, b.peer_id])

            metrics = Metrics()
            deadline = trio.current_time() + WINDOW
            blob = await fetch_with_retries(c, cid, providers, deadline, 30.0, metrics)
            assert blob == data
            assert calls >= 2
            assert metrics.get("fetch_retries_total") >= 1

    run(scenario)


def test_nobody_holding_the_blob_is_unavailable_at_the_deadline(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (a, c):
            await link(c, a)
            cid = compute_cid(b"never stored anywhere")

            async def providers() -> list[str]:
                return [a.peer_id]

            metrics = Metrics()
            with pytest.raises(UpdateRejected) as excinfo:
                await fetch_with_retries(
                    c, cid, providers, trio.current_time() + 8.0, 30.0, metrics
                )
            assert excinfo.value.reason == "unavailable"
            assert metrics.get("fetch_retries_total") >= 2  # 5 s, then the rest

    run(scenario)
