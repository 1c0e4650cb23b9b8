"""Connections among a round's committee, made as soon as the committee is known.

Each member fetches every other member's update. With a bounded overlay
(``node/p2p/overlay.py``) a member is connected to only some of the others, and the
fetch of an update from an unconnected author started with a dial (a TCP and Noise
handshake, seconds on a busy machine) inside its first attempt. Here each member takes
the other members' registry entries when the round's committee is drawn, keeps them for
the exchange's first attempt (``ctx.committee_peers``) and dials the unconnected ones in
the background, bounded by ``PeerNetwork.dial_soon`` (at most ``MAX_DIALS_AHEAD`` at
once, each with ``connect``'s timeout, cap and backoff). Nothing waits for it: a fetch
that starts while a dial is still under way waits for that dial instead of starting one.

The entries come from peer discovery's last registry read (``ctx.registry``) where it
holds the member as active; only the others are read from the chain (at 32 nodes, K = 8,
seven reads per member-round, each a worker-thread hop and an RPC to the endpoint all
nodes share). An address moved since that read costs the exchange's first attempt only:
each later attempt re-reads the author's entry (``node/exchange.py``).

Of two members not yet connected, the one with the lower address dials at once and the
other only if no connection came ``dial_yield_s`` later: both dialling at once made two
connections per pair, each a Noise handshake, identify and gossip hello on both ends (at
32 nodes, K = 8, a newly drawn member dialled ~4 members a round). The wait is
``DIAL_YIELD_S``, longer where this node's own dials take long (``typical_dial_s``): on a
loaded machine a dial took more than 0.75 s, the wait ran out before the lower address's
connection came, and both dialled (203 committee dials with 14 yielded in a loaded N = 32
run, against 113 with 87 in a quieter one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from node.chain.client import Participant
from node.context import NodeContext
from node.p2p.connection_budget import ConnectionBudget

log = logging.getLogger(__name__)

READ_LIMIT = 4  # registry reads in flight at once
DIAL_YIELD_S = 0.75  # how long the higher address of a pair waits for the lower one's dial
DIAL_YIELD_FACTOR = 1.5  # ... at least this many times this node's typical dial
DIAL_YIELD_MAX_S = 3.0  # ... and never longer
MEET_TIMEOUT = 30.0  # seconds after which reading entries is given up (chain unreachable)


def meet_committee(ctx: NodeContext, committee: Sequence[str]) -> None:
    """Take (or read, in the background) the other members' registry entries; dial them."""
    others = sorted({a for a in committee if a.lower() != ctx.address.lower()})
    entries: dict[str, Participant] = {}
    ctx.committee_peers = entries  # filled as the entries are read; replaced next round
    unread = []
    for address in others:
        known = ctx.registry.get(address.lower())
        if known is not None and known.active:
            ctx.metrics.inc("committee_entries_known_total")
            keep(ctx, entries, address, known)
        else:  # not in discovery's last read, or read inactive (staked since)
            unread.append(address)
    if unread:
        ctx.net.start_soon(_meet, ctx, unread, entries)


def links_of(ctx: NodeContext) -> ConnectionBudget:
    """The node's connection bookkeeping (node/p2p/connection_budget.py)."""
    return ctx.links


def note_committee(ctx: NodeContext, r: int, committee: Sequence[str] | None) -> None:
    """Round ``r``'s members' connections are kept until the round is over
    (node/p2p/connection_budget.py); a round without a committee: every active peer's."""
    if committee is None:
        committee = [address for address, peer in ctx.registry.items() if peer.active]
    links_of(ctx).drawn(r, committee)


def keep(
    ctx: NodeContext, entries: dict[str, Participant], address: str, peer: Participant
) -> None:
    entries[address] = peer
    if not peer.addrs or peer.peer_id in ctx.net.connected_peers():
        return
    if ctx.address.lower() < address.lower():
        dial(ctx, peer)
    else:  # the other member dials us; dial it only if that connection never came
        ctx.net.start_soon(_dial_unless_dialled, ctx, peer)


def dial(ctx: NodeContext, peer: Participant) -> None:
    if ctx.net.dial_soon(peer.peer_id, list(peer.addrs)):
        ctx.metrics.inc("committee_dials_total")


def dial_yield_s(typical_dial_s: float) -> float:
    """How long the higher address waits for the lower one's dial, given how long this
    node's own dials take."""
    return min(DIAL_YIELD_MAX_S, max(DIAL_YIELD_S, DIAL_YIELD_FACTOR * typical_dial_s))


async def _dial_unless_dialled(ctx: NodeContext, peer: Participant) -> None:
    await trio.sleep(dial_yield_s(ctx.net.typical_dial_s()))
    if peer.peer_id in ctx.net.connected_peers():
        ctx.metrics.inc("committee_dials_yielded_total")
    else:
        dial(ctx, peer)


async def _meet(ctx: NodeContext, members: list[str], entries: dict[str, Participant]) -> None:
    limit = trio.CapacityLimiter(READ_LIMIT)

    async def read(address: str) -> None:
        async with limit:
            try:
                peer = await ctx.chain_port.participant(address)
            except Exception as exc:  # noqa: BLE001 - a background task: never stop the network
                log.info("committee member %s: registry entry not read: %s", address, exc)
                return
        if peer is not None and peer.active:
            keep(ctx, entries, address, peer)

    with trio.move_on_after(MEET_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for address in members:
                nursery.start_soon(read, address)
