"""Peers we stopped talking to: a peer the score graylisted (gossip abuse, and Bitswap's:
node/p2p/peer_score.py ``BITSWAP_PENALTIES``) is disconnected and refused, inbound and
outbound, for a cooldown.

Blacklisting alone (pubsub drops its messages unread) left a flooding peer's connection
up: every frame it sent still cost Noise, yamux and the pubsub read loop, 8-17 ms of CPU a
push (bench/hostile.py --mode push-flood), 4-6x an honest node's CPU a round. The score
only ever charges what the peer itself signed or sent (node/p2p/peer_score.py ``penalty``), so
an honest peer is never cut off for what it relayed. The cooldown doubles with each
further graylisting of the same peer, up to ``COOLDOWN_MAX_S``; once it is over the peer
may connect again and is heard again (its score, still recovering, re-graylists it after
a few more offences).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from libp2p.abc import IHost, IMuxedConn
from libp2p.network.exceptions import SwarmException
from libp2p.network.swarm import Swarm

log = logging.getLogger(__name__)

COOLDOWN_S = 60.0
COOLDOWN_MAX_S = 600.0


class PeerCooldown:
    """Graylisted peers and until when each is refused (``clock`` seconds)."""

    def __init__(
        self,
        base_s: float = COOLDOWN_S,
        max_s: float = COOLDOWN_MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.clock = clock
        self._until: dict[str, float] = {}
        self._offences: Counter[str] = Counter()

    def ban(self, peer: str) -> float:
        """Refuse ``peer`` from now on for a cooldown; returns its length in seconds."""
        self._offences[peer] += 1
        wait = min(self.max_s, self.base_s * 2 ** (self._offences[peer] - 1))
        self._until[peer] = self.clock() + wait
        return wait

    def refuses(self, peer: str) -> bool:
        until = self._until.get(peer)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._until[peer]  # over; the offence count stays for the next cooldown
        return False

    def remaining(self, peer: str) -> float:
        return max(0.0, self._until.get(peer, 0.0) - self.clock())


def install(
    host: IHost,
    cooldown: PeerCooldown,
    metrics: Counter[str],
    admitted: Callable[[Any], None],
) -> None:
    """Close every new connection (inbound or outbound) of a peer in its cooldown before
    the swarm registers it (``p2p.refused.graylisted``); ``admitted(peer_id)`` runs for
    every connection let through (to hear a peer again whose cooldown ended)."""
    swarm = cast(Swarm, host.get_network())
    add_conn = swarm.add_conn

    async def gated(muxed_conn: IMuxedConn, direction: str = "unknown") -> Any:
        peer = muxed_conn.peer_id
        if cooldown.refuses(peer.to_base58()):
            metrics["p2p.refused.graylisted"] += 1
            log.debug("refusing %s connection of graylisted %s", direction, peer)
            with contextlib.suppress(Exception):
                await muxed_conn.close()
            raise SwarmException(f"peer {peer} is graylisted (cooldown)")
        admitted(peer)
        return await add_conn(muxed_conn, direction)

    swarm.add_conn = gated  # type: ignore[method-assign]
