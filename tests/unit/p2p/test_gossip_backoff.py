"""Gossipsub back-off on the announcement topic: a member that left the topic and is
drawn again gets its mesh back once the back-off its PRUNE announced is over, and a
GRAFT a second early (back-offs end on whole seconds on each side) is not refused.
py-libp2p's own rule refused every GRAFT within 10 s of the sender's PRUNE."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V12
from libp2p.pubsub.pb import rpc_pb2

from node.p2p.gossip_router import CheckedGossipSub

TOPIC = "fedchain/announcements"
PEER = ID(b"\x00\x24\x08\x01\x12\x20" + bytes(range(32)))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeGossip:
    metrics: Counter[str] = Counter()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(100.2)
    monkeypatch.setattr(time, "time", fake)
    return fake


def router_with_mesh() -> tuple[CheckedGossipSub, list[str]]:
    router = CheckedGossipSub(
        FakeGossip(),  # type: ignore[arg-type]
        protocols=[PROTOCOL_ID_V12],
        degree=6,
        degree_low=4,
        degree_high=12,
        unsubscribe_back_off=1,
    )
    router.mesh[TOPIC] = set()
    pruned: list[str] = []

    async def emit_prune(topic: str, to_peer: ID, do_px: bool, is_unsubscribe: bool) -> None:
        pruned.append(topic)

    router.emit_prune = emit_prune  # type: ignore[method-assign]
    return router, pruned


def graft(router: CheckedGossipSub) -> None:
    trio.run(router.handle_graft, rpc_pb2.ControlGraft(topicID=TOPIC), PEER)


def prune(router: CheckedGossipSub, backoff: int) -> None:
    trio.run(router.handle_prune, rpc_pb2.ControlPrune(topicID=TOPIC, backoff=backoff), PEER)


def test_a_peer_that_left_is_grafted_again_once_its_announced_back_off_is_over(
    clock: Clock,
) -> None:
    router, pruned = router_with_mesh()
    prune(router, backoff=1)  # the peer left the topic
    clock.now = 103.0  # drawn again 3 s later: within py-libp2p's 10 s flood window
    graft(router)
    assert PEER in router.mesh[TOPIC] and pruned == []


def test_a_graft_a_second_before_the_back_off_ends_is_accepted(clock: Clock) -> None:
    router, pruned = router_with_mesh()
    prune(router, backoff=1)  # back-off until the whole second 102
    clock.now = 100.9  # the peer's own back-off (it left at 100.1) ended at 101
    graft(router)
    assert PEER in router.mesh[TOPIC] and pruned == []


def test_a_graft_well_inside_the_back_off_is_refused(clock: Clock) -> None:
    router, pruned = router_with_mesh()
    prune(router, backoff=60)
    clock.now = 110.0
    graft(router)
    assert PEER not in router.mesh[TOPIC] and pruned == [TOPIC]


def test_the_leaver_holds_off_a_second_longer_than_it_announces(clock: Clock) -> None:
    router, _ = router_with_mesh()
    router._add_back_off(PEER, TOPIC, True)  # as leave() does before its PRUNE
    assert router.back_off[TOPIC][PEER] == 102  # announced: 1 s
    clock.now = 101.5
    assert router._check_back_off(PEER, TOPIC)
