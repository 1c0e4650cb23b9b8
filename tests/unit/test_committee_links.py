"""A round's committee members dial each other as soon as the committee is known
(node/committee_links.py): the others' registry entries are read in the background, kept
for the exchange's first attempt and dialled if not connected; unreadable or inactive
entries are skipped, and nothing escapes into the network's task group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from node.chain.client import Participant
from node.committee_links import DIAL_YIELD_MAX_S, DIAL_YIELD_S, dial_yield_s, meet_committee
from node.errors import ChainError
from node.metrics import Metrics

ME, A, B, C, D = "0x0Me", "0xAa", "0xBb", "0xCc", "0xDd"  # ME the lowest: it dials first


def entry(address: str, *, active: bool = True, addrs: bool = True) -> Participant:
    peer_addrs = [f"/ip4/127.0.0.1/tcp/1/p2p/peer-{address}"] if addrs else []
    return Participant(address, 1, f"peer-{address}", peer_addrs, active)


@dataclass
class Port:
    entries: dict[str, Participant]
    read: list[str] = field(default_factory=list)

    async def participant(self, address: str) -> Participant | None:
        self.read.append(address)
        if address == D:
            raise ChainError("registry read failed")
        return self.entries.get(address)


@dataclass
class Net:
    nursery: trio.Nursery
    connected: set[str] = field(default_factory=set)
    dialled: list[str] = field(default_factory=list)
    dial_s: float = 0.0  # how long this node's dials take (typical_dial_s)

    def typical_dial_s(self) -> float:
        return self.dial_s

    def start_soon(self, fn: Any, *args: Any) -> None:
        self.nursery.start_soon(fn, *args)

    def dial_soon(self, peer_id: str, addrs: list[str]) -> bool:
        if peer_id in self.connected:
            return False
        self.dialled.append(peer_id)
        return True

    def connected_peers(self) -> set[str]:
        return set(self.connected)


@dataclass
class Ctx:
    chain_port: Port
    net: Net
    address: str = ME
    metrics: Metrics = field(default_factory=Metrics)
    committee_peers: dict[str, Participant] = field(default_factory=dict)
    registry: dict[str, Participant] = field(default_factory=dict)  # peer discovery's read


def test_members_read_and_dial_the_other_members() -> None:
    entries = {
        A: entry(A),
        B: entry(B, active=False),  # unstaked since: not dialled, not kept
        C: entry(C),  # connected already: kept, not dialled again
        ME: entry(ME),
    }

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            ctx = Ctx(Port(entries), Net(nursery, connected={"peer-" + C}))
            meet_committee(ctx, [C, ME, A, B, D])  # type: ignore[arg-type]
            assert ctx.committee_peers == {}  # nothing read yet: the round goes on
        assert sorted(ctx.chain_port.read) == sorted([A, B, C, D])  # never itself
        assert ctx.committee_peers == {A: entries[A], C: entries[C]}
        assert ctx.net.dialled == ["peer-" + A]
        assert ctx.metrics.get("committee_dials_total") == 1

    trio.run(scenario)


def test_the_next_round_starts_from_its_own_entries() -> None:
    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            ctx = Ctx(Port({A: entry(A), B: entry(B)}), Net(nursery))
            meet_committee(ctx, [ME, A])  # type: ignore[arg-type]
            first = ctx.committee_peers
            meet_committee(ctx, [ME, B])  # type: ignore[arg-type]
        assert first == {A: entry(A)}
        assert ctx.committee_peers == {B: entry(B)}

    trio.run(scenario)


def test_entries_peer_discovery_read_are_taken_without_a_chain_read() -> None:
    """A member drawn anew takes the others' entries from discovery's last registry read:
    no registry read for them, connected ones not dialled again; a member discovery holds
    inactive (it may have staked since) or does not know is read as before."""
    fresh = {B: entry(B), C: entry(C)}

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            ctx = Ctx(Port(fresh), Net(nursery, connected={"peer-" + A}))
            ctx.registry = {A.lower(): entry(A), B.lower(): entry(B, active=False)}
            meet_committee(ctx, [ME, A, B, C])  # type: ignore[arg-type]
            assert ctx.committee_peers == {A: entry(A)}  # at once, before any read
        assert sorted(ctx.chain_port.read) == [B, C]  # A not read
        assert ctx.committee_peers == {A: entry(A), B: entry(B), C: entry(C)}
        assert sorted(ctx.net.dialled) == ["peer-" + B, "peer-" + C]  # A is connected
        assert ctx.metrics.get("committee_entries_known_total") == 1

    trio.run(scenario)


def test_of_two_members_the_lower_address_dials_and_the_other_waits_for_it() -> None:
    """ME (0xEe...) is above A and below F: it dials F at once; A is expected to dial ME,
    so ME dials A only if no connection came within DIAL_YIELD_S; B's did come."""
    me, f = "0xEe", "0xFf"

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            net = Net(nursery)
            ctx = Ctx(Port({}), net, address=me)
            ctx.registry = {x.lower(): entry(x) for x in (A, B, f)}
            meet_committee(ctx, [me, A, B, f])  # type: ignore[arg-type]
            assert net.dialled == ["peer-" + f]  # at once
            await trio.sleep(DIAL_YIELD_S / 2)
            net.connected.add("peer-" + B)  # B dialled us
            await trio.sleep(DIAL_YIELD_S)
            assert sorted(net.dialled) == ["peer-" + A, "peer-" + f]  # A never did
        assert ctx.metrics.get("committee_dials_yielded_total") == 1
        assert ctx.metrics.get("committee_dials_total") == 2

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize(
    ("typical", "wait"),
    [
        (0.0, DIAL_YIELD_S),  # no dial yet
        (0.2, DIAL_YIELD_S),  # a quiet machine: the floor
        (1.0, 1.5),  # a loaded one: 1.5 x its dials
        (10.0, DIAL_YIELD_MAX_S),  # never longer than the cap
    ],
)
def test_the_wait_for_the_other_members_dial_follows_this_nodes_dials(
    typical: float, wait: float
) -> None:
    assert dial_yield_s(typical) == pytest.approx(wait)


def test_where_dials_take_long_the_higher_address_waits_longer_for_the_lower_ones() -> None:
    """Dials take 1.2 s here: A's connection coming 1 s after the draw (after the 0.75 s
    floor) is still waited for, so ME does not dial A too (two connections per pair)."""
    me = "0xEe"

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            net = Net(nursery, dial_s=1.2)
            ctx = Ctx(Port({}), net, address=me)
            ctx.registry = {A.lower(): entry(A)}
            meet_committee(ctx, [me, A])  # type: ignore[arg-type]
            await trio.sleep(1.0)
            net.connected.add("peer-" + A)  # A's dial came
            await trio.sleep(DIAL_YIELD_MAX_S)
            assert net.dialled == []
        assert ctx.metrics.get("committee_dials_yielded_total") == 1

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
