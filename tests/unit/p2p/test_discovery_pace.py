"""node.p2p.overlay.DiscoveryPace: registry reads soon while peers change, rarely once they
don't, and at once when a new round opens (trio's virtual clock: no real waiting)."""

from __future__ import annotations

import trio
import trio.testing

from node.p2p.overlay import DiscoveryPace


def test_settled_only_when_count_and_peers_repeat() -> None:
    pace = DiscoveryPace(busy=3, idle=30)
    assert not pace.settled(4, {"a", "b"})  # the first pass: nothing to compare with
    assert pace.settled(4, {"b", "a"})
    assert not pace.settled(5, {"a", "b"})  # a registration
    assert not pace.settled(5, {"a"})  # a peer went away
    assert pace.settled(5, {"a"})


def pause_length(settled: bool, opens_at: float | None) -> float:
    """Virtual seconds ``pause`` takes when round 2 opens at ``opens_at`` (never if None)."""
    pace = DiscoveryPace(busy=3, idle=30)
    current = {"round": 1}

    async def main() -> float:
        async with trio.open_nursery() as nursery:
            if opens_at is not None:

                async def open_round() -> None:
                    await trio.sleep(opens_at)
                    current["round"] = 2

                nursery.start_soon(open_round)
            start = trio.current_time()
            await pace.pause(settled, lambda: current["round"])
            took = trio.current_time() - start
            nursery.cancel_scope.cancel()
        return took

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_pause_is_short_while_changing_long_once_settled_cut_by_a_new_round() -> None:
    assert pause_length(settled=False, opens_at=None) == 3
    assert pause_length(settled=True, opens_at=None) == 30
    assert 7.2 <= pause_length(settled=True, opens_at=7.2) <= 7.2 + 0.5  # woken by round 2
