"""Which registered peers a node keeps connections to: a bounded overlay, not a full mesh.

Dialling every registered peer costs each node O(N) connections, and py-libp2p spends CPU
on every one of them each gossip heartbeat (mesh upkeep, GRAFT/PRUNE churn once a node has
more peers than gossipsub's D_high): at 32 nodes on 2 cores the idle nodes alone kept a
core busy. Instead each node ranks the other peers by a hash of the (unordered) pair, so
both ends of a pair mostly agree, and keeps ``degree`` of them connected: the best-ranked
ones it can reach (a dead or unreachable peer, e.g. a sybil that registered an address
nobody listens on, is passed over for the next one, so it cannot cut a node off). Inbound
connections come on top (a node ends up with about ``degree`` to ``2 * degree`` peers).
The others' addresses are kept to dial on demand (a round's authors, a model's holders).
Gossip reaches every node through the overlay; at ``degree + 1`` nodes or fewer it is the
old full mesh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from node.p2p.network import PeerNetwork


def pair_score(a: str, b: str) -> bytes:
    low, high = sorted((a, b))
    return hashlib.sha256(f"{low}|{high}".encode()).digest()


def ranked_peers(me: str, peers: Iterable[str]) -> list[str]:
    """The peers other than ``me``, in the order this node prefers to keep them connected."""
    return sorted({p for p in peers if p != me}, key=lambda p: pair_score(me, p))


async def keep_overlay(
    net: PeerNetwork, peers: Mapping[str, Sequence[str]], degree: int
) -> set[str]:
    """Keep ``degree`` of the best-ranked reachable ``peers`` (peer id -> addresses)
    connected; remember the others' addresses for dialling on demand. Returns the kept."""
    connected = net.connected_peers()
    kept: set[str] = set()
    for peer_id in ranked_peers(net.peer_id, peers):
        addrs = list(peers[peer_id])
        if len(kept) < degree and (peer_id in connected or await net.connect(peer_id, addrs)):
            kept.add(peer_id)
        elif peer_id not in connected:
            net.remember(peer_id, addrs)
    return kept


WAKE_CHECK_S = 0.5  # how often a resting discovery looks whether a new round opened


@dataclass
class DiscoveryPace:
    """When peer discovery reads the registry next.

    Every ``busy`` seconds while the registry size or this node's connected peers change
    (start-up, registrations, restarts); once a pass changed neither, every ``idle``
    seconds, or as soon as a new round opens: a participant can take part only from a
    round opened after it registered, so reading the registry at each opening finds every
    peer of the round in time. At 32 nodes, a registry read by every node every 3 s was
    ~10 calls a second on the chain endpoint for a registry that had not changed.
    """

    busy: float
    idle: float
    _last: tuple[object, frozenset[str]] | None = field(default=None, init=False)

    def settled(self, count: object, connected: set[str]) -> bool:
        """Whether the registry's counts and the connected peers are what they were at the
        previous pass (records this pass's)."""
        now = (count, frozenset(connected))
        same = now == self._last
        self._last = now
        return same

    async def pause(self, settled: bool, current_round: Callable[[], int]) -> None:
        if not settled:
            await trio.sleep(self.busy)
            return
        opened = current_round()
        with trio.move_on_after(self.idle):
            while current_round() == opened:
                await trio.sleep(WAKE_CHECK_S)
