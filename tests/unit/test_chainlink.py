"""ChainLink: chain calls retried through an outage, sends tried once, the outage reported."""

from __future__ import annotations

import pytest
import trio

from node.chain.errors import ChainUnreachable
from node.chainlink import ChainLink
from node.metrics import Metrics


class FlakyEndpoint:
    """Answers after ``failures`` transport failures."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def read(self, value: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ChainUnreachable("http://127.0.0.1:1")
        return value


def test_call_retries_until_the_chain_answers_and_reports_the_outage() -> None:
    link = ChainLink(Metrics())
    seen: list[str | None] = []
    link.on_change = lambda: seen.append(link.describe())
    endpoint = FlakyEndpoint(failures=3)

    assert trio.run(link.call, endpoint.read, 7) == 7
    assert endpoint.calls == 4
    assert seen[0] is not None and seen[0].startswith("chain unreachable since 20")
    assert seen[1:] == [None]  # reachable again
    assert link.outages == 1
    assert link.metrics.get("chain_retries_total") == 3
    assert link.metrics.get("chain_unreachable_seconds") == 0
    assert link.metrics.get("chain_unreachable_seconds_total") > 0


def test_send_is_tried_once_and_leaves_the_outage_open() -> None:
    link = ChainLink(Metrics())
    endpoint = FlakyEndpoint(failures=1)
    with pytest.raises(ChainUnreachable):
        trio.run(link.send, endpoint.read, 1)
    assert endpoint.calls == 1
    assert link.describe() is not None
    assert link.outages == 0
