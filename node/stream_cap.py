"""A cap on the inbound streams one peer holds open at once (pubsub and Bitswap handlers)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable

from libp2p.abc import INetStream
from libp2p.peer.id import ID


class PeerStreamCap:
    """Runs a stream handler while the stream's peer holds fewer than ``limit`` inbound
    streams; a stream over the cap is reset and reported to ``refused`` instead."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[ID] = Counter()

    async def run(
        self,
        stream: INetStream,
        handler: Callable[[INetStream], Awaitable[None]],
        refused: Callable[[ID], None],
    ) -> None:
        peer = stream.muxed_conn.peer_id
        if self._open[peer] >= self.limit:
            refused(peer)
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        self._open[peer] += 1
        try:
            await handler(stream)
        finally:
            self._open[peer] -= 1
            if self._open[peer] <= 0:
                del self._open[peer]
