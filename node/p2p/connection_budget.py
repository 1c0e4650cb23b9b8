"""Which connections a node keeps: a bounded set, not one that only grows.

Each committee draw connects a member to the other members (node/committee_links.py) and
nothing closed those connections: after 8 rounds at 32 nodes (K = 8) nodes had 8-26
peers, each one upkeep every second (gossipsub heartbeat, mesh, yamux pings). A node now
keeps its overlay (its own and the peers whose overlay it is in: they would dial it again),
the members of the current and later rounds' committees, and every peer with a transfer in
flight (a block-stream or Bitswap stream open, for at most ``IN_FLIGHT_MAX_S``: an idle
Bitswap stream stays open long after its transfer); any other connection is closed once it
has been outside that set for ``GRACE_S`` seconds (a former member, after its round is
over; a peer that dialled us for a fetch). Above ``cap`` connections the least useful
unprotected ones go at once (unregistered peers first, then the worst-ranked pairs), like
libp2p's connection manager's high watermark; protected peers are never trimmed.

A pruned peer drawn again is dialled again when its committee is drawn; a fetch from it
dials it as a provider. ``choose_prunes`` is the choice, a pure function; the rest is the
bookkeeping the node's prune pass (node/peer_discovery.py) feeds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GRACE_S = 10.0  # seconds a peer stays connected after it stopped being protected
PRUNE_INTERVAL_S = 2.5  # seconds between prune passes
KEPT_ROUNDS = 4  # committees remembered (the current round's and later ones are protected)
# a peer closed as not kept that is connected again within this many seconds dials us on
# purpose (its overlay skipped an unreachable peer, so we are in it after all): kept since
BACK_WITHIN_S = 120.0
# protocols of a transfer in flight: a stream open on one keeps the connection
TRANSFER_PROTOCOLS = ("/fedchain/blocks/", "/ipfs/bitswap")
# ... for at most this long: a Bitswap stream stays open, idle, long after its transfer
# (py-libp2p closes an idle inbound one after 60 s; an outbound want-list stream is reused),
# and a blob transfer ends within an exchange deadline
IN_FLIGHT_MAX_S = 30.0


def pruning_enabled() -> bool:
    """``FEDCHAIN_PRUNE=0`` keeps every connection (A/B measurements)."""
    return os.environ.get("FEDCHAIN_PRUNE", "1") != "0"


def default_cap(degree: int, committee_size: int) -> int:
    """The high watermark: own overlay, the peers whose overlay we are in, and two
    committees' other members."""
    return 2 * degree + 2 * max(committee_size - 1, 0)


def overlay_of_others(
    me: str, active: Iterable[str], degree: int, rank: Callable[[str, Iterable[str]], list[str]]
) -> set[str]:
    """The peers whose overlay (their ``degree`` best-ranked peers) holds ``me``: closing
    our connection to one of them only makes it dial us again."""
    peers = set(active) | {me}
    return {p for p in peers if p != me and me in rank(p, peers)[:degree]}


def choose_prunes(
    connected: Iterable[str],
    protected: set[str],
    in_flight: set[str],
    unprotected_since: Mapping[str, float],
    now: float,
    *,
    grace: float,
    cap: int,
    registered: set[str],
    former: set[str],
    order: Callable[[str], bytes],
) -> dict[str, str]:
    """The connections to close now, peer id -> why: outside the kept set for ``grace``
    seconds (``committee_done``: a member of an earlier committee in ``former``;
    ``not_kept``: any other), or ``over_cap``: the least useful above ``cap``.

    Protected peers (overlay, current and later committees) and peers with a transfer in
    flight are never chosen. ``unprotected_since``: when each peer was first seen outside
    the kept set (a peer missing from it is treated as just now). Over the cap, unregistered
    peers go first, then the largest ``order`` (the worst-ranked pair).
    """
    peers = set(connected)
    spare = peers - protected - in_flight
    prunes = {
        p: "committee_done" if p in former else "not_kept"
        for p in spare
        if now - unprotected_since.get(p, now) >= grace
    }
    left = len(peers) - len(prunes)
    if left > cap:
        rest = sorted(spare - prunes.keys(), key=order, reverse=True)  # worst pair first
        rest.sort(key=lambda p: p in registered)  # stable: unregistered ones before
        for p in rest[: left - cap]:
            prunes[p] = "over_cap"
    return prunes


@dataclass
class ConnectionBudget:
    """A node's bookkeeping for ``choose_prunes``: the committees drawn (addresses, by
    round), its overlay (peer ids, from the last discovery pass) and since when each
    connected peer has been unprotected."""

    committees: dict[int, frozenset[str]] = field(default_factory=dict)
    overlay: set[str] = field(default_factory=set)
    overlay_known: bool = False  # nothing is closed before discovery's first pass
    unprotected_since: dict[str, float] = field(default_factory=dict)
    # closed as not kept or over the cap: when, and whether seen disconnected since
    closed_at: dict[str, tuple[float, bool]] = field(default_factory=dict)
    came_back: set[str] = field(default_factory=set)  # ... and connected again soon after
    in_flight_since: dict[str, float] = field(default_factory=dict)

    def recent_transfers(self, in_flight: set[str], now: float) -> set[str]:
        """The peers of ``in_flight`` whose transfer streams have been open, without a gap,
        for less than ``IN_FLIGHT_MAX_S``: an idle stream left open protects no longer."""
        since = {p: self.in_flight_since.get(p, now) for p in in_flight}
        self.in_flight_since = since
        return {p for p, t in since.items() if now - t < IN_FLIGHT_MAX_S}

    def closed(self, peer_id: str, why: str, now: float) -> None:
        self.unprotected_since.pop(peer_id, None)
        if why != "committee_done":  # a former member comes back when drawn again
            self.closed_at[peer_id] = (now, False)

    def drawn(self, r: int, committee: Iterable[str]) -> None:
        """Round ``r``'s committee (addresses) is known."""
        self.committees[r] = frozenset(a.lower() for a in committee)
        for old in sorted(self.committees)[:-KEPT_ROUNDS]:
            del self.committees[old]

    def committee_peers(
        self, peer_ids: Mapping[str, str], since: int, before: int | None = None
    ) -> set[str]:
        """Peer ids of the members of rounds ``since`` to ``before`` (excluded; None: all
        later rounds)."""
        rounds = [r for r in self.committees if r >= since and (before is None or r < before)]
        members: set[str] = set().union(*(self.committees[r] for r in rounds))
        return {peer_ids[a] for a in members if a in peer_ids}

    def welcome_back(self, connected: set[str], now: float) -> None:
        """A peer closed as not kept, seen gone, and connected again within
        ``BACK_WITHIN_S`` is kept from now on (``came_back``) while it stays connected."""
        self.came_back &= connected
        for p, (at, gone) in list(self.closed_at.items()):
            if now - at >= BACK_WITHIN_S:
                del self.closed_at[p]
            elif p not in connected:
                self.closed_at[p] = (at, True)
            elif gone:
                del self.closed_at[p]
                self.came_back.add(p)

    def note(self, connected: set[str], protected: set[str], now: float) -> None:
        """Start the grace of peers that just left the kept set; forget the others."""
        for p in list(self.unprotected_since):
            if p not in connected or p in protected:
                del self.unprotected_since[p]
        for p in connected - protected:
            self.unprotected_since.setdefault(p, now)


def in_flight_peers(connections: Mapping[Any, Iterable[Any]]) -> set[str]:
    """Peers (base58 ids) with a transfer stream open on a connection: a block-stream or
    Bitswap stream, or one whose protocol is still being negotiated. ``connections``: the
    swarm's peer id -> connections map (each connection's ``streams``)."""
    busy = set()
    for pid, conns in connections.items():
        for conn in conns:
            for stream in list(getattr(conn, "streams", ())):
                protocol = str(stream.get_protocol() or "")
                if not protocol or protocol.startswith(TRANSFER_PROTOCOLS):
                    busy.add(pid.to_base58())
                    break
    return busy
