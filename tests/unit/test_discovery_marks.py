"""Peer discovery reads the registry's counts again only after a registry-changing log
while the chain watch follows the coordinator's logs (``registry_marks``), not at every
round's opening; without a log subscription, at every opening as before. Scripted chain,
trio's mock clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from node import peer_discovery
from tests.unit.round_fixtures import inline_port


@dataclass
class Chain:
    counts: list[float] = field(default_factory=list)

    def registry_counts(self) -> tuple[int, int]:
        self.counts.append(trio.current_time())
        return 4, 4

    def participants(self) -> list[Any]:
        return []


@dataclass
class Ctx:
    chain: Chain
    watch: Any
    current_round: int = 1
    registered_peers: set[str] = field(default_factory=set)
    peer_ids: dict[str, str] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)
    net: Any = field(default_factory=lambda: SimpleNamespace(connected_peers=set))

    @property
    def chain_port(self) -> Any:
        return inline_port(self.chain)


def run(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_dials(ctx: Any, participants: Any) -> None:
        return None

    monkeypatch.setenv("FEDCHAIN_PRUNE", "0")
    monkeypatch.setattr(peer_discovery, "connect_missing", no_dials)

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def rounds() -> None:
                for t in (10, 20, 30):  # three rounds open
                    await trio.sleep_until(t)
                    ctx.current_round += 1
                await trio.sleep_until(40)
                ctx.watch.registry_marks += 1  # e.g. a Registered log
                ctx.current_round += 1

            nursery.start_soon(rounds)
            with trio.move_on_after(45):
                await peer_discovery.discover_peers(ctx)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_counts_read_again_only_after_a_registry_log(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Ctx(Chain(), SimpleNamespace(round_logs_live=True, registry_marks=0))
    run(ctx, monkeypatch)
    assert [int(t) for t in ctx.chain.counts] == [0, 40]


def test_without_a_log_subscription_counts_read_at_every_opening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = Ctx(Chain(), SimpleNamespace(round_logs_live=False, registry_marks=0))
    run(ctx, monkeypatch)
    assert [int(t) for t in ctx.chain.counts] == [0, 3, 10, 20, 30, 40]
