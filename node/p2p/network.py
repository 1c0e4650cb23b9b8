"""One node's network service: libp2p host, gossipsub topics and Bitswap blobs.

``open_network`` starts everything inside the caller's trio task tree and stops it
all when the ``async with`` block exits::

    async with open_network(data_dir=path) as net:
        await net.connect(other_id, other_addrs)
        updates = await net.subscribe("fedchain/updates")
        cid = await net.add_blob(blob)
        await net.publish("fedchain/updates", cid.encode())
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from node.errors import NetworkError
from node.p2p.dialer import BACKOFF_INITIAL, BACKOFF_MAX, MAX_CONNECTIONS, Dialer, parse_peer_id
from node.p2p.gossip import MAX_MESSAGE_SIZE, Gossip, GossipMessage, GossipPolicy, Validator
from node.p2p.host import ensure_port_free, make_host, tcp_multiaddr
from node.p2p.identity import load_or_create_identity
from node.p2p.peer_gate import PeerCooldown
from node.p2p.peer_gate import install as install_peer_gate
from node.p2p.peer_score import BITSWAP_PENALTIES, BLOCKSTREAM_PENALTIES
from node.store import blobs
from node.store.blockstore import BlockStore
from node.store.cid import parse_cid_str
from node.store.exchange import BlobExchange
from node.types import Cid

__all__ = [
    "MAX_MESSAGE_SIZE",
    "GossipMessage",
    "GossipPolicy",
    "PeerNetwork",
    "Validator",
    "open_network",
]

log = logging.getLogger(__name__)


class PeerNetwork:
    """Handle on a running network service; made by ``open_network``."""

    def __init__(
        self,
        host: IHost,
        gossip: Gossip,
        exchange: BlobExchange,
        nursery: trio.Nursery,
        metrics: Counter[str],
        *,
        max_connections: int = MAX_CONNECTIONS,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.host = host
        self.peer_id: str = host.get_id().to_base58()
        self.metrics = metrics
        self._gossip = gossip
        self._exchange = exchange
        self._nursery = nursery
        self.cooldown = PeerCooldown()
        self._dialer = Dialer(
            host,
            nursery,
            metrics,
            self.cooldown,
            max_connections=max_connections,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        gossip.on_graylisted = self._cut_off
        install_peer_gate(host, self.cooldown, metrics, gossip.forgive)
        exchange.set_charge(self._charge_bitswap)

    def _charge_bitswap(self, peer: ID, reason: str) -> None:
        """Bitswap abuse costs the peer score that gossip abuse does (``BITSWAP_PENALTIES``;
        reasons not listed there are honest behaviour and stay uncharged); so does
        ``blockstream.<reason>`` (``BLOCKSTREAM_PENALTIES``, /fedchain/blocks/1)."""
        table, counter = BITSWAP_PENALTIES, f"bitswap.charged.{reason}"
        if reason.startswith("blockstream."):
            reason = reason.removeprefix("blockstream.")
            table, counter = BLOCKSTREAM_PENALTIES, f"blockstream.charged.{reason}"
        points = table.get(reason, 0.0)
        if points > 0 and not self.cooldown.refuses(peer.to_base58()):
            self._gossip.charge_points(peer, counter, points)

    def _cut_off(self, pid: ID) -> None:
        """A peer the gossip score graylisted: close its connections and refuse it, both
        ways, for a cooldown (node/p2p/peer_gate.py); until then it costs us nothing."""
        wait = self.cooldown.ban(pid.to_base58())
        log.warning("p2p: disconnecting graylisted %s; refused for %.0fs", pid, wait)
        if pid in self.host.get_connected_peers():
            self.metrics["p2p.disconnected.graylisted"] += 1
            self._nursery.start_soon(self._close_peer, pid)

    async def _close_peer(self, pid: ID) -> None:
        try:
            await self.host.get_network().close_peer(pid)
        except Exception as exc:  # noqa: BLE001 - the peer may be gone already
            log.debug("closing %s: %r", pid, exc)

    # -- peers -------------------------------------------------------------------------

    def listen_addrs(self) -> list[str]:
        return [str(addr) for addr in self.host.get_transport_addrs()]

    async def connect(self, peer_id: str, addrs: list[str]) -> bool:
        """Dial ``peer_id``; False (with the reason logged) if it cannot be reached, or
        refused without dialling (cap, backoff, cooldown: ``Dialer.connect``)."""
        return await self._dialer.connect(peer_id, addrs)

    def dial_soon(self, peer_id: str, addrs: list[str]) -> bool:
        """Dial ``peer_id`` in the background (``Dialer.dial_soon``)."""
        return self._dialer.dial_soon(peer_id, addrs)

    def dialling(self, peer_id: str) -> bool:
        """Whether a background dial (``dial_soon``) of ``peer_id`` is under way."""
        return self._dialer.dialling(peer_id)

    def typical_dial_s(self) -> float:
        """How long this node's recent dials took (``Dialer.typical_dial_s``)."""
        return self._dialer.typical_dial_s()

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run ``fn(*args)`` beside the network, until it returns or the network stops;
        ``fn`` must handle its own errors (one escaping stops the network)."""
        self._nursery.start_soon(fn, *args)

    def remember(self, peer_id: str, addrs: list[str]) -> None:
        """Keep ``peer_id``'s addresses without dialling it (``Dialer.remember``)."""
        self._dialer.remember(peer_id, addrs)

    def set_registered(self, is_registered: Callable[[str], bool] | None) -> None:
        """``is_registered(peer_id)``: the peers that get block-stream serving slots
        (the chain's registry); None serves everyone (tests, no chain)."""
        self._exchange.server.is_registered = is_registered

    def connected_peers(self) -> set[str]:
        return {pid.to_base58() for pid in self.host.get_connected_peers()}

    # -- gossip ------------------------------------------------------------------------

    def set_validator(self, topic: str, fn: Validator) -> None:
        """``fn(sender, data)`` returns a rejection reason (a short label) or None."""
        self._gossip.set_validator(topic, fn)

    def set_gossip_policy(self, topic: str, policy: GossipPolicy) -> None:
        """Registered sender, schema, round window and duplicate checks for ``topic``
        (before propagation; rejections are counted and lower the delivering peer's score)."""
        self._gossip.set_policy(topic, policy)

    def peer_scores(self) -> dict[str, float]:
        """Our gossip score of each peer that delivered a rejected message (0 = clean)."""
        return self._gossip.scores.snapshot()

    async def subscribe(self, topic: str) -> trio.MemoryReceiveChannel[GossipMessage]:
        return await self._gossip.subscribe(topic, self._nursery)

    async def publish(self, topic: str, data: bytes) -> None:
        """Sign and publish; NetworkError for messages over 64 KiB or that fail validation."""
        await self._gossip.publish(topic, data)

    def mesh_peers(self, topic: str) -> set[str]:
        return self._gossip.mesh_peers(topic)

    async def wait_for_mesh(self, topic: str, min_peers: int, timeout: float) -> None:
        """Wait until ``min_peers`` peers are in our gossip mesh for ``topic``."""
        await self._gossip.wait_for_mesh(topic, min_peers, timeout)

    # -- blobs -------------------------------------------------------------------------

    async def add_blob(self, data: bytes) -> Cid:
        """Store ``data`` and return its CIDv1 (what ``ipfs add --cid-version=1`` gives)."""
        return await self._exchange.add_blob(data)

    def has_blob(self, cid: str) -> bool:
        return self._exchange.has_blob(cid)

    async def get_local_blob(self, cid: str) -> bytes | None:
        return await self._exchange.get_local_blob(cid)

    async def collect_garbage(self, keep: list[str]) -> int:
        """Delete every stored block not under one of the ``keep`` CIDs (finalized models,
        rounds still in play); returns how many blocks went."""
        roots = [parse_cid_str(cid) for cid in keep]
        store = self._exchange.store
        removed = await trio.to_thread.run_sync(blobs.collect_garbage, store, roots)
        self.metrics["store.gc_removed"] += removed
        return removed

    async def fetch_blob(self, cid: str, providers: list[str], timeout: float) -> bytes:
        """The blob ``cid`` from the local store or ``providers`` (over Bitswap, from any
        connected peer when ``providers`` is empty).

        Raises NetworkError on timeout and ContentError for oversize or bad content.
        """
        local = await self._exchange.get_local_blob(cid)
        if local is not None:
            return local
        pids = []
        for provider in providers:
            try:
                pids.append(parse_peer_id(provider))
            except NetworkError as exc:
                log.warning("fetch %s: ignoring provider: %s", cid, exc)
        await self._dialer.dial_known(pids)
        return await self._exchange.fetch_blob(cid, pids, timeout)


@asynccontextmanager
async def open_network(
    *,
    data_dir: Path,
    listen_host: str = "127.0.0.1",
    listen_port: int = 0,
    max_blob_size: int = 64 * 2**20,
    max_connections: int = MAX_CONNECTIONS,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_max: float = BACKOFF_MAX,
    is_registered: Callable[[str], bool] | None = None,
) -> AsyncIterator[PeerNetwork]:
    """Start host (TCP, Noise, yamux), gossipsub and Bitswap; stop them all on exit.

    ``max_connections`` caps the peers ``connect()`` dials (inbound connections are not
    refused); ``backoff_*`` set how long a peer whose dial failed is left alone;
    ``is_registered`` as in ``PeerNetwork.set_registered``.
    """
    data_dir = Path(data_dir)
    if listen_port:
        ensure_port_free(listen_host, listen_port)
    key_pair = load_or_create_identity(data_dir)
    metrics: Counter[str] = Counter()
    store = BlockStore(data_dir / "blocks")
    host = make_host(key_pair, metrics)
    gossip = Gossip(host, metrics)
    exchange = BlobExchange(host, store, metrics, max_blob_size, is_registered)
    async with host.run([tcp_multiaddr(listen_host, listen_port)]):
        if not host.get_transport_addrs():
            raise NetworkError(f"cannot listen on {listen_host}:{listen_port}")
        async with gossip.running(), trio.open_nursery() as nursery:
            await exchange.start(nursery)
            network = PeerNetwork(
                host,
                gossip,
                exchange,
                nursery,
                metrics,
                max_connections=max_connections,
                backoff_initial=backoff_initial,
                backoff_max=backoff_max,
            )
            log.info("p2p: %s listening on %s", network.peer_id, network.listen_addrs())
            try:
                yield network
            finally:
                # Not BitswapClient.stop(): it unregisters the Bitswap stream handlers
                # while peers may still be negotiating a stream, and py-libp2p's
                # multiselect then raises KeyError inside the swarm, which tears the
                # whole host down with an exception group. Cancelling our nursery stops
                # Bitswap's workers; leaving host.run() closes every connection.
                nursery.cancel_scope.cancel()
