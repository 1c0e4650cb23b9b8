"""Connections among a round's committee, made as soon as the committee is known.

Each member fetches every other member's update. With a bounded overlay
(``node/p2p/overlay.py``) a member is connected to only some of the others, and the
fetch of an update from an unconnected author started with a dial (a TCP and Noise
handshake, seconds on a busy machine) inside its first attempt. Here each member reads
the other members' registry entries when the round's committee is drawn, keeps them for
the exchange's first attempt (``ctx.committee_peers``) and dials the unconnected ones in
the background, bounded by ``PeerNetwork.dial_soon`` (at most ``MAX_DIALS_AHEAD`` at
once, each with ``connect``'s timeout, cap and backoff). Nothing waits for it: a fetch
that starts while a dial is still under way waits for that dial instead of starting one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from node.chain.client import Participant
from node.context import NodeContext

log = logging.getLogger(__name__)

READ_LIMIT = 4  # registry reads in flight at once
MEET_TIMEOUT = 30.0  # seconds after which reading entries is given up (chain unreachable)


def meet_committee(ctx: NodeContext, committee: Sequence[str]) -> None:
    """Read the other members' registry entries and dial them, in the background."""
    others = sorted({a for a in committee if a.lower() != ctx.address.lower()})
    entries: dict[str, Participant] = {}
    ctx.committee_peers = entries  # filled as the entries are read; replaced next round
    ctx.net.start_soon(_meet, ctx, others, entries)


async def _meet(ctx: NodeContext, members: list[str], entries: dict[str, Participant]) -> None:
    limit = trio.CapacityLimiter(READ_LIMIT)

    async def read(address: str) -> None:
        async with limit:
            try:
                peer = await ctx.chain_port.participant(address)
            except Exception as exc:  # noqa: BLE001 - a background task: never stop the network
                log.info("committee member %s: registry entry not read: %s", address, exc)
                return
        if peer is None or not peer.active:
            return
        entries[address] = peer
        if peer.addrs and ctx.net.dial_soon(peer.peer_id, list(peer.addrs)):
            ctx.metrics.inc("committee_dials_total")

    with trio.move_on_after(MEET_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for address in members:
                nursery.start_soon(read, address)
