"""Peers from the chain's registry: who gossip is accepted from, and whom to stay connected to."""

from __future__ import annotations

import logging
import math
from functools import partial

import trio

from node.announcements import admit as admit_push
from node.announcements import relayed as relayed_message
from node.chain.client import Participant
from node.context import NodeContext
from node.errors import ChainError
from node.p2p.gossip import GossipPolicy
from node.p2p.messages import MAX_PUSH_MESSAGE
from node.p2p.messages import decode as decode_announcement
from node.p2p.overlay import DiscoveryPace, keep_overlay

log = logging.getLogger(__name__)

DISCOVERY_INTERVAL = 3.0  # seconds between cheap registry checks while peers change
DISCOVERY_IDLE = 30.0  # ... once they stopped changing (and at each new round)
DISCOVERY_REFRESH = 120.0  # seconds between full registry reads (new registrations: at once)


def gossip_policy(ctx: NodeContext) -> GossipPolicy:
    """Checks before an announcement is accepted or forwarded; no chain calls (see ctx)."""
    return GossipPolicy(
        decode=decode_announcement,
        is_registered=ctx.registered_peers.__contains__,
        round_ok=lambda r: ctx.current_round - 1 <= r <= ctx.current_round + 1,
        round_known=lambda: ctx.current_round > 0,  # 0 until the round loop read it
        round_past=lambda r: r < ctx.current_round - 1,  # stale replays: dropped, uncharged
        admit=partial(admit_push, ctx),  # a push only from its author (node/announcements.py)
        max_size=MAX_PUSH_MESSAGE,  # a small update rides its author's announcement
        relay=relayed_message,  # pushes are not relayed (node/announcements.py)
    )


async def discover_peers(ctx: NodeContext) -> None:
    """Connect to every registered participant we are not connected to, forever.

    Reading the registry costs 1 + 2n contract calls, and web3.py spends real CPU on
    each: with 8 nodes on 2 cores, a full read every few seconds by every node starved
    the event loops (blob fetches took seconds). So the registry is read in full only
    when its size changed or every ``DISCOVERY_REFRESH`` seconds (stake changes, new
    addresses); otherwise one call (``participantCount``) per ``DISCOVERY_INTERVAL``,
    and disconnected peers are redialled from the cached entries (with backoff); once
    neither the count nor the connected peers change, per ``DISCOVERY_IDLE`` or new round
    (``node.p2p.overlay.DiscoveryPace``).
    ``fetch_blob_until`` also re-reads an author's entry before each fetch attempt.
    """
    known_count: tuple[int, int] = (-1, -1)
    refreshed_at = -math.inf
    participants: list[Participant] = []
    pace = DiscoveryPace(DISCOVERY_INTERVAL, DISCOVERY_IDLE)
    while True:
        settled = False
        try:
            # registrations and active stakes: a peer that registered, was read inactive
            # and then staked changes only the second
            count = await ctx.chain_port.registry_counts()
            stale = trio.current_time() - refreshed_at >= DISCOVERY_REFRESH
            if count != known_count or stale:
                participants = await ctx.chain_port.participants()
                known_count, refreshed_at = count, trio.current_time()
                ctx.registered_peers.clear()
                ctx.registered_peers.update(p.peer_id for p in participants if p.active)
                ctx.peer_ids = {p.address.lower(): p.peer_id for p in participants if p.active}
                ctx.registry = {p.address.lower(): p for p in participants}
            await connect_missing(ctx, participants)  # dials back off by themselves
            settled = pace.settled(count, ctx.net.connected_peers())
        except ChainError as exc:
            log.warning("peer discovery: %s", exc)
        await pace.pause(settled, lambda: ctx.current_round)


async def connect_missing(ctx: NodeContext, participants: list[Participant]) -> None:
    active = {p.peer_id: p.addrs for p in participants if p.active and p.addrs}
    await keep_overlay(ctx.net, active, ctx.cfg.overlay_degree)
