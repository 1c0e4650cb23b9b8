"""The bounded overlay (node/p2p/overlay.py) with real py-libp2p hosts on loopback: a node
keeps ``degree`` of its best-ranked reachable peers connected, passes over dead ones, and
keeps the others' addresses so a fetch that names them as providers dials them."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from node.p2p.network import open_network
from node.p2p.overlay import keep_overlay, pair_score, ranked_peers

pytestmark = pytest.mark.integration

HANG_GUARD = 120  # seconds; a guard against hangs, not a performance assertion
DEAD = ["/ip4/127.0.0.1/tcp/1"]  # nothing listens there
PEERS = 5


def test_ranking_is_a_pure_function_of_the_pair() -> None:
    ids = [f"peer-{i}" for i in range(12)]
    ranked = ranked_peers("peer-0", ids)
    assert "peer-0" not in ranked and sorted(ranked) == sorted(ids[1:])
    assert ranked_peers("peer-0", reversed(ids)) == ranked
    assert pair_score("peer-0", "peer-5") == pair_score("peer-5", "peer-0")


def test_a_node_keeps_degree_reachable_peers_and_dials_the_others_on_demand(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            nets = [
                await stack.enter_async_context(open_network(data_dir=tmp_path / f"n{i}"))
                for i in range(PEERS)
            ]
            me, others = nets[0], nets[1:]
            peers = {n.peer_id: n.listen_addrs() for n in others}
            ranked = ranked_peers(me.peer_id, peers)
            dead = ranked[0]  # the best-ranked peer registered an address nobody serves
            peers[dead] = DEAD
            await keep_overlay(me, peers, degree=2)
            assert me.connected_peers() == set(ranked[1:3])  # the dead one passed over
            assert me.metrics["connect.failed"] == 1

            # a peer outside the overlay is reached when a fetch names it as a provider
            outsider = next(n for n in others if n.peer_id == ranked[3])
            cid = await outsider.add_blob(b"model bytes held by a peer outside the overlay")
            blob = await me.fetch_blob(cid, [outsider.peer_id], timeout=30)
            assert blob == b"model bytes held by a peer outside the overlay"
            assert outsider.peer_id in me.connected_peers()

    async def guarded() -> None:
        with trio.fail_after(HANG_GUARD):
            await scenario()

    trio.run(guarded)
