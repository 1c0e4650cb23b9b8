"""Reconnect backoff and the connection cap, with real py-libp2p hosts on loopback.

Nothing asserts on wall time: the run uses a MockClock that follows real time
(rate 1, so libp2p's own timeouts behave normally) and that the test jumps forward to
leave a backoff window; assertions are on dial counters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from node.p2p.network import open_network

pytestmark = pytest.mark.integration

HANG_GUARD = 120  # seconds; a guard against hangs, not a performance assertion
DEAD = ["/ip4/127.0.0.1/tcp/1"]  # nothing listens there


def run(test: Callable[[MockClock], Awaitable[None]]) -> None:
    clock = MockClock(rate=1.0)

    async def guarded() -> None:
        with trio.fail_after(HANG_GUARD):
            await test(clock)

    trio.run(guarded, clock=clock)


def test_a_failed_peer_is_not_redialled_until_its_backoff_has_passed(tmp_path: Path) -> None:
    async def scenario(clock: MockClock) -> None:
        async with (
            open_network(data_dir=tmp_path / "a", backoff_initial=10, backoff_max=15) as a,
            open_network(data_dir=tmp_path / "b") as b,
        ):
            assert await a.connect(b.peer_id, DEAD) is False
            assert (a.metrics["connect.dialled"], a.metrics["connect.failed"]) == (1, 1)

            assert await a.connect(b.peer_id, DEAD) is False  # within 10 s: no dial
            assert a.metrics["connect.dialled"] == 1
            assert a.metrics["connect.backoff"] == 1

            clock.jump(10)
            assert await a.connect(b.peer_id, DEAD) is False  # dialled again, failed again
            assert a.metrics["connect.dialled"] == 2

            clock.jump(14)  # the wait doubled, capped at 15 s
            assert await a.connect(b.peer_id, DEAD) is False
            assert a.metrics["connect.dialled"] == 2
            assert a.metrics["connect.backoff"] == 2

            clock.jump(1)
            assert await a.connect(b.peer_id, DEAD) is False
            assert a.metrics["connect.dialled"] == 3

            # new addresses for the same peer are dialled at once, and success resets
            assert await a.connect(b.peer_id, b.listen_addrs())
            assert a.metrics["connect.dialled"] == 4
            assert a.connected_peers() == {b.peer_id}
            assert a._dialer.backoff.blocked_for(b.peer_id, DEAD) == 0

    run(scenario)


def test_connection_cap_refuses_new_peers(tmp_path: Path) -> None:
    async def scenario(clock: MockClock) -> None:
        async with AsyncExitStack() as stack:
            a = await stack.enter_async_context(
                open_network(data_dir=tmp_path / "a", max_connections=1)
            )
            b = await stack.enter_async_context(open_network(data_dir=tmp_path / "b"))
            c = await stack.enter_async_context(open_network(data_dir=tmp_path / "c"))
            assert await a.connect(b.peer_id, b.listen_addrs())
            assert await a.connect(c.peer_id, c.listen_addrs()) is False
            assert a.metrics["connect.refused_cap"] == 1
            assert a.metrics["connect.dialled"] == 1
            assert a.connected_peers() == {b.peer_id}
            # a peer already connected is not refused
            assert await a.connect(b.peer_id, b.listen_addrs())
            assert a.metrics["connect.refused_cap"] == 1

    run(scenario)
