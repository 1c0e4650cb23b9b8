"""When Bitswap joins a fetch's race (node/store/exchange.py ``_Race.fast_path_busy``):
after the head start, unless a fast-path racer is delivering or still opening its stream
within the patience; a racer that answered and then drips does not hold Bitswap back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from node.store.exchange import (
    BITSWAP_HEAD_START,
    BITSWAP_OPEN_PATIENCE,
    HEDGE_PROBE,
    HEDGE_PROBE_BYTES,
    _Race,
)


def racer(received: int | None, answered_ago: float = 10.0) -> Any:
    """A fast-path client: None = still opening, else bytes read since it answered."""
    if received is None:
        return SimpleNamespace(reader=None, answered_at=0.0)
    reader = SimpleNamespace(received=received)
    return SimpleNamespace(reader=reader, answered_at=trio.current_time() - answered_ago)


def busy(clients: list[Any], waited: float) -> bool:
    race = _Race()
    race.clients = dict(enumerate(clients))  # type: ignore[arg-type]
    return race.fast_path_busy(waited)


def test_bitswap_stays_out_while_the_fast_path_delivers_or_opens() -> None:
    late = BITSWAP_HEAD_START + BITSWAP_OPEN_PATIENCE

    async def scenario() -> None:
        await trio.sleep(100)  # clock well past zero
        assert not busy([], BITSWAP_HEAD_START)  # no racer: join
        assert busy([racer(None)], BITSWAP_HEAD_START)  # opening, within patience
        assert not busy([racer(None)], late)  # opening for too long: join
        assert busy([racer(HEDGE_PROBE_BYTES)], late)  # delivering
        assert busy([racer(1, answered_ago=HEDGE_PROBE / 2)], late)  # just answered
        assert not busy([racer(1)], BITSWAP_HEAD_START)  # answered, then drips: join
        # one dripping racer and one delivering: the delivering one holds Bitswap back
        assert busy([racer(1), racer(10 * HEDGE_PROBE_BYTES)], late)

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
