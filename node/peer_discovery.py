"""Peers from the chain's registry: who gossip is accepted from, and whom to stay connected to."""

from __future__ import annotations

import logging
import math
from functools import partial

import trio

from node.announcements import admit as admit_push
from node.announcements import relayed as relayed_message
from node.chain.client import Participant
from node.committee_links import links_of
from node.context import NodeContext
from node.errors import ChainError
from node.p2p.connection_budget import (
    GRACE_S,
    PRUNE_INTERVAL_S,
    choose_prunes,
    default_cap,
    in_flight_peers,
    overlay_of_others,
    pruning_enabled,
)
from node.p2p.dialer import parse_peer_id
from node.p2p.gossip import GossipPolicy
from node.p2p.messages import MAX_PUSH_MESSAGE
from node.p2p.messages import decode as decode_announcement
from node.p2p.network import PeerNetwork
from node.p2p.overlay import DiscoveryPace, keep_overlay, pair_score, ranked_peers
from node.waits import registry_marks

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
    counted_at: int | None = None  # the watch's registry marks when the counts were read
    refreshed_at = -math.inf
    participants: list[Participant] = []
    pace = DiscoveryPace(DISCOVERY_INTERVAL, DISCOVERY_IDLE)
    if pruning_enabled():
        ctx.net.start_soon(keep_connections_bounded, ctx)
    while True:
        settled = False
        try:
            # registrations and active stakes: a peer that registered, was read inactive
            # and then staked changes only the second
            # no registry-changing log since the last count: the counts are the same (a
            # read a round per node was 1 of an observer's ~14 reads)
            marks = registry_marks(ctx)
            stale = trio.current_time() - refreshed_at >= DISCOVERY_REFRESH
            if marks is None or marks != counted_at or stale:
                count = await ctx.chain_port.registry_counts()
                counted_at = marks
            else:
                count = known_count
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
    degree = ctx.cfg.overlay_degree
    kept = await keep_overlay(ctx.net, active, degree)
    # the peers whose overlay holds us dial us anyway: their connections are kept too
    links = links_of(ctx)
    links.overlay = kept | overlay_of_others(ctx.net.peer_id, active, degree, ranked_peers)
    links.overlay_known = True


async def keep_connections_bounded(ctx: NodeContext) -> None:
    """Close, every ``PRUNE_INTERVAL_S``, the connections outside the kept set
    (node/p2p/connection_budget.py); ``FEDCHAIN_PRUNE=0`` turns this off."""
    while True:
        await trio.sleep(PRUNE_INTERVAL_S)
        try:
            prune_connections(ctx, trio.current_time())
        except Exception as exc:  # noqa: BLE001 - a background pass: never stop the network
            log.warning("connection pruning: %r", exc)


def prune_connections(ctx: NodeContext, now: float) -> dict[str, str]:
    """One prune pass: close the connections ``choose_prunes`` picks; returns them."""
    links, net, r = links_of(ctx), ctx.net, ctx.current_round
    if not links.overlay_known:
        return {}
    connected = net.connected_peers()
    open_streams = in_flight_peers(net.host.get_network().get_connections_map())
    in_flight = links.recent_transfers(open_streams, now)
    links.welcome_back(connected, now)
    protected = links.overlay | links.came_back | links.committee_peers(ctx.peer_ids, since=r)
    links.note(connected, protected | in_flight, now)
    size = max((len(c) for c in links.committees.values()), default=0)
    prunes = choose_prunes(
        connected,
        protected,
        in_flight,
        links.unprotected_since,
        now,
        grace=GRACE_S,
        cap=default_cap(ctx.cfg.overlay_degree, size),
        registered=ctx.registered_peers,
        former=links.committee_peers(ctx.peer_ids, since=0, before=r),
        order=partial(pair_score, net.peer_id),
    )
    for peer_id, why in prunes.items():
        net.metrics[f"p2p.pruned.{why}"] += 1
        log.debug("closing the connection to %s (%s; round %d)", peer_id, why, r)
        links.closed(peer_id, why, now)
        net.start_soon(_close, net, peer_id)
    return prunes


async def _close(net: PeerNetwork, peer_id: str) -> None:
    try:
        await net.host.get_network().close_peer(parse_peer_id(peer_id))
    except Exception as exc:  # noqa: BLE001 - the peer may be gone already
        log.debug("closing %s: %r", peer_id, exc)
