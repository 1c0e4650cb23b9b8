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
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node.p2p.network import PeerNetwork


def pair_score(a: str, b: str) -> bytes:
    low, high = sorted((a, b))
    return hashlib.sha256(f"{low}|{high}".encode()).digest()


def ranked_peers(me: str, peers: Iterable[str]) -> list[str]:
    """The peers other than ``me``, in the order this node prefers to keep them connected."""
    return sorted({p for p in peers if p != me}, key=lambda p: pair_score(me, p))


async def keep_overlay(net: PeerNetwork, peers: Mapping[str, Sequence[str]], degree: int) -> None:
    """Keep ``degree`` of the best-ranked reachable ``peers`` (peer id -> addresses)
    connected; remember the others' addresses for dialling on demand."""
    connected = net.connected_peers()
    kept = 0
    for peer_id in ranked_peers(net.peer_id, peers):
        addrs = list(peers[peer_id])
        if kept < degree and (peer_id in connected or await net.connect(peer_id, addrs)):
            kept += 1
        elif peer_id not in connected:
            net.remember(peer_id, addrs)
