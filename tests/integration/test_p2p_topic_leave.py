"""Leaving a gossip topic by closing its channel (node/announcements.py relies on it):
a node off the round's committee receives and relays nothing, and joins again later.

Real py-libp2p hosts on loopback; timeouts only stop a hung test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from node.p2p.network import GossipMessage
from tests.integration.test_p2p_network import TOPIC, link, nodes, receive, run

pytestmark = pytest.mark.integration

REJOIN_AFTER_S = 3  # a scenario's pause, not a timing assertion
MESH_TIMEOUT_S = 30  # stops a hung test only


async def expect(channel: trio.MemoryReceiveChannel[GossipMessage], data: bytes) -> None:
    """The next message with ``data`` (a publisher gets its own messages too)."""
    while (await receive(channel)).data != data:
        pass


async def until(check: object) -> None:
    with trio.fail_after(15):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.05)


def test_a_closed_channel_leaves_the_topic_and_a_new_one_joins_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 3) as (a, b, c):
            await link(a, b)
            await link(a, c)
            await link(b, c)
            channels = {n.peer_id: await n.subscribe(TOPIC) for n in (a, b, c)}
            for n in (a, b, c):
                await n.wait_for_mesh(TOPIC, 2, timeout=MESH_TIMEOUT_S)
            await a.publish(TOPIC, b"one")
            for n in (b, c):
                await expect(channels[n.peer_id], b"one")

            await channels[c.peer_id].aclose()  # c is drawn out of the committee
            # ... and a heard c's unsubscribe: a flood-publishes its own messages to every
            # peer subscribed to the topic, not only to its mesh (node/p2p/gossip.py)
            await until(
                lambda: (
                    c.peer_id
                    not in a.mesh_peers(TOPIC) | b.mesh_peers(TOPIC) | a._gossip.topic_peers(TOPIC)
                )
            )
            assert c.metrics["gossip.topics_left"] == 1
            sent = a.metrics["gossip.out.messages"]
            await a.publish(TOPIC, b"two")
            await expect(channels[b.peer_id], b"two")
            assert a.metrics["gossip.out.messages"] == sent + 1  # to b; c is not asked to relay
            await b.publish(TOPIC, b"three")
            await expect(channels[a.peer_id], b"three")

            # drawn again a few seconds later: after the 1 s back-off its PRUNE announced,
            # within the 10 s in which py-libp2p refused its GRAFT (node/p2p/gossip_router.py)
            await trio.sleep(REJOIN_AFTER_S)
            again = await c.subscribe(TOPIC)
            # a member relies on flood publish: its peers need only hear it subscribed again
            await until(lambda: c.peer_id in a._gossip.topic_peers(TOPIC))
            await a.publish(TOPIC, b"four")
            await expect(again, b"four")
            # ... and the mesh forms again (what a topic whose messages are relayed needs)
            await c.wait_for_mesh(TOPIC, 2, timeout=MESH_TIMEOUT_S)
            await until(lambda: c.peer_id in a.mesh_peers(TOPIC) & b.mesh_peers(TOPIC))

    run(scenario)
