"""The reconnect backoff on trio's clock (a MockClock we move by hand)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
from trio.testing import MockClock

from node.p2p.dialer import DialBackoff

ADDRS = ["/ip4/127.0.0.1/tcp/1"]


def run(test: Callable[[MockClock], Awaitable[None]]) -> None:
    clock = MockClock()
    trio.run(test, clock, clock=clock)


def test_waits_double_up_to_the_maximum_and_reset_on_success() -> None:
    async def scenario(clock: MockClock) -> None:
        backoff = DialBackoff(initial=1.0, maximum=60.0)
        assert backoff.blocked_for("peer", ADDRS) == 0
        waits = [backoff.failed("peer", ADDRS) for _ in range(9)]
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
        assert backoff.blocked_for("peer", ADDRS) == 60
        clock.jump(59.5)
        assert backoff.blocked_for("peer", ADDRS) == 0.5
        clock.jump(0.5)
        assert backoff.blocked_for("peer", ADDRS) == 0
        backoff.succeeded("peer")
        assert backoff.failed("peer", ADDRS) == 1  # back to the start

    run(scenario)


def test_only_the_failed_addresses_of_that_peer_are_held_back() -> None:
    async def scenario(clock: MockClock) -> None:
        backoff = DialBackoff(initial=5.0, maximum=60.0)
        backoff.failed("peer", ADDRS)
        assert backoff.blocked_for("peer", ADDRS) == 5
        assert backoff.blocked_for("peer", list(reversed(ADDRS))) == 5  # order is irrelevant
        assert backoff.blocked_for("peer", ["/ip4/127.0.0.1/tcp/2"]) == 0
        assert backoff.blocked_for("other", ADDRS) == 0
        # a failure at new addresses keeps doubling the same peer's wait
        assert backoff.failed("peer", ["/ip4/127.0.0.1/tcp/2"]) == 10
        assert backoff.blocked_for("peer", ADDRS) == 0

    run(scenario)
