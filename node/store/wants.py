"""Bitswap want-lists go to a fetch's providers, not to every connected peer.

py-libp2p's ``BitswapClient`` sends a session's WANT-HAVE to (up to 20 random ones of)
all connected peers and every CANCEL to all of them. At 32 nodes the observers (not on
the round's committee, holding no update) spent about a fifth of their CPU handling the
members' want-lists. Here a fetch names its providers for the CIDs it wants
(``ScopedWants.scoped``): a broadcast of those CIDs goes to the connected providers only,
and to every connected peer (py-libp2p's broadcast) only while some fetch wants the CID
with no provider listed (e.g. a model nobody announced). A CANCEL goes only to the
peers a want for that CID was sent to.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from libp2p.bitswap import BitswapClient
from libp2p.bitswap.cid import CIDObject
from libp2p.peer.id import ID

MAX_SENT = 65536  # CIDs whose want recipients are remembered (oldest forgotten first)


class ScopedWants(BitswapClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # CID -> providers of the fetches that want it; None counts a fetch open to anyone
        self._scopes: dict[bytes, Counter[ID | None]] = {}
        self._sent: dict[bytes, set[ID]] = {}  # CID -> peers a want for it was sent to

    @contextlib.contextmanager
    def scoped(self, cids: Sequence[bytes], providers: Sequence[ID]) -> Iterator[None]:
        """While in the block, want-lists for ``cids`` go to ``providers`` (to any
        connected peer if ``providers`` is empty)."""
        keys: list[ID | None] = list(dict.fromkeys(providers)) or [None]
        for cid in cids:
            self._scopes.setdefault(cid, Counter()).update(keys)
        try:
            yield
        finally:
            for cid in cids:
                scope = self._scopes.get(cid)
                if scope is None:
                    continue
                scope.subtract(keys)
                scope += Counter()  # in place: drops the counts at zero
                if not scope:
                    del self._scopes[cid]

    def want_targets(self, cid: bytes, connected: set[ID]) -> set[ID] | None:
        """The connected peers a want for ``cid`` goes to; None: every connected peer."""
        scope = self._scopes.get(cid)
        if scope is None or None in scope:
            return None
        return {p for p in scope if p is not None and p in connected}

    async def _broadcast_wantlist(self, cids: list[CIDObject]) -> None:
        metrics = self._want_metrics
        connected = set(self.host.get_network().connections.keys())
        anyone: list[CIDObject] = []
        per_peer: dict[ID, list[CIDObject]] = {}
        for cid in cids:
            targets = self.want_targets(bytes(cid.buffer), connected)
            if targets is None:
                anyone.append(cid)
                continue
            if not targets:
                metrics["bitswap.want_no_provider_connected"] += 1
            for peer in targets:
                per_peer.setdefault(peer, []).append(cid)
        if anyone:
            metrics["bitswap.want_broadcasts"] += 1
            await super()._broadcast_wantlist(anyone)
        for peer, wanted in per_peer.items():
            metrics["bitswap.want_scoped_sends"] += 1
            if self._nursery is not None:
                self._nursery.start_soon(self._send_wantlist_to_peer, peer, wanted)
            else:
                await self._send_wantlist_to_peer(peer, wanted)

    async def _send_wantlist_to_peer(self, peer_id: ID, cids: list[CIDObject]) -> bool:
        for cid in cids:
            key = bytes(cid.buffer)
            if key not in self._sent and len(self._sent) >= MAX_SENT:
                del self._sent[next(iter(self._sent))]
            self._sent.setdefault(key, set()).add(peer_id)
        return await super()._send_wantlist_to_peer(peer_id, cids)

    async def _broadcast_cancel(self, cid: CIDObject) -> None:
        asked = self._sent.pop(bytes(cid.buffer), set())
        connected = set(self.host.get_network().connections.keys())
        for peer in asked & connected:
            with contextlib.suppress(Exception):
                self.get_or_create_message_queue(peer).add_cancels([cid])

    @property
    def _want_metrics(self) -> Counter[str]:
        metrics = getattr(self.block_store, "metrics", None)
        return metrics if isinstance(metrics, Counter) else Counter()
