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

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from node.errors import NetworkError
from node.p2p.gossip import MAX_MESSAGE_SIZE, Gossip, GossipMessage, GossipPolicy, Validator
from node.p2p.host import ensure_port_free, make_host, tcp_multiaddr
from node.p2p.identity import load_or_create_identity
from node.p2p.peer_gate import PeerCooldown
from node.p2p.peer_gate import install as install_peer_gate
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

CONNECT_TIMEOUT = 10.0
PROVIDER_DIAL_TIMEOUT = 5.0
MAX_CONNECTIONS = 64
BACKOFF_INITIAL = 1.0  # seconds after a failed dial before connect() dials that peer again
BACKOFF_MAX = 60.0  # the wait doubles with each further failure, up to this
MAX_DIALS_AHEAD = 16  # background dials (``dial_soon``) in flight at once


class _Backoff:
    """When a failed peer may be dialled again: ``initial`` seconds after the first
    failure, doubling with each further failure up to ``maximum``; forgotten on success.

    Time is trio's clock (``trio.current_time``), so tests can drive it.
    """

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        # peer id -> (addresses that failed, current wait, earliest next dial)
        self._failed: dict[str, tuple[frozenset[str], float, float]] = {}

    def blocked_for(self, peer_id: str, addrs: list[str]) -> float:
        """Seconds left before ``peer_id`` at ``addrs`` may be dialled (0 = now).

        Only the addresses that failed are held back: a peer announcing new addresses
        (e.g. a fresh registry entry after a restart) is dialled at once.
        """
        entry = self._failed.get(peer_id)
        if entry is None or entry[0] != frozenset(addrs):
            return 0.0
        return max(0.0, entry[2] - trio.current_time())

    def failed(self, peer_id: str, addrs: list[str]) -> float:
        """Record a failed dial; returns the wait before the next one."""
        entry = self._failed.get(peer_id)
        wait = self.initial if entry is None else min(self.maximum, entry[1] * 2)
        self._failed[peer_id] = (frozenset(addrs), wait, trio.current_time() + wait)
        return wait

    def succeeded(self, peer_id: str) -> None:
        self._failed.pop(peer_id, None)


def _multiaddrs(peer_id: str, addrs: list[str]) -> list[multiaddr.Multiaddr]:
    maddrs = []
    for addr in addrs:
        maddr = multiaddr.Multiaddr(addr)
        if "/p2p/" in addr:
            maddr = maddr.decapsulate(multiaddr.Multiaddr(f"/p2p/{peer_id}"))
        maddrs.append(maddr)
    if not maddrs:
        raise NetworkError("no addresses given")
    return maddrs


async def _wait_at_most(event: trio.Event, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await event.wait()


def _parse_peer_id(peer_id: str) -> ID:
    try:
        return ID.from_base58(peer_id)
    except Exception as exc:  # noqa: BLE001 - base58 / multihash errors of all kinds
        raise NetworkError(f"invalid peer id {peer_id!r}: {exc}") from exc


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
        if max_connections < 1:
            raise NetworkError(f"max_connections must be at least 1, not {max_connections}")
        self.host = host
        self.peer_id: str = host.get_id().to_base58()
        self.metrics = metrics
        self._gossip = gossip
        self._exchange = exchange
        self._nursery = nursery
        self.max_connections = max_connections
        self._backoff = _Backoff(backoff_initial, backoff_max)
        self._dialling: dict[str, trio.Event] = {}  # peer id -> set when its dial ended
        self.cooldown = PeerCooldown()
        gossip.on_graylisted = self._cut_off
        install_peer_gate(host, self.cooldown, metrics, gossip.forgive)

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
        """Dial ``peer_id``; False (with the reason logged) if it cannot be reached.

        Also False, without dialling, while the peer is in backoff after a failed dial
        to the same addresses (``connect.backoff``) or when ``max_connections`` peers
        are connected already and ``peer_id`` is not one of them
        (``connect.refused_cap``).
        """
        pending = self._dialling.get(peer_id)
        if pending is not None:  # a background dial (dial_soon) is under way: wait for it
            await pending.wait()
            if peer_id in self.connected_peers():
                return True
        return await self._dial(peer_id, addrs)

    async def _dial(self, peer_id: str, addrs: list[str]) -> bool:
        dialled = False
        try:
            pid = _parse_peer_id(peer_id)
            if pid == self.host.get_id():
                raise NetworkError("refusing to dial ourselves")
            maddrs = _multiaddrs(peer_id, addrs)
            connected = self.host.get_connected_peers()
            if pid in connected:
                self._backoff.succeeded(peer_id)
                return True
            if self.cooldown.refuses(peer_id):
                self.metrics["p2p.refused.graylisted"] += 1
                log.debug("not dialling graylisted %s", peer_id)
                return False
            if len(connected) >= self.max_connections:
                self.metrics["connect.refused_cap"] += 1
                log.info(
                    "not dialling %s: %d peers connected (max_connections)",
                    peer_id,
                    len(connected),
                )
                return False
            wait = self._backoff.blocked_for(peer_id, addrs)
            if wait > 0:
                self.metrics["connect.backoff"] += 1
                log.debug("not dialling %s: in backoff for %.1fs more", peer_id, wait)
                return False
            # the given addresses replace any stale ones; py-libp2p keeps retrying a
            # dead stored address and never reaches the new one otherwise
            self.host.get_peerstore().clear_addrs(pid)
            self._forget_dial_failures(pid)
            dialled = True
            self.metrics["connect.dialled"] += 1
            with trio.fail_after(CONNECT_TIMEOUT):
                await self.host.connect(PeerInfo(pid, maddrs))
        except trio.TooSlowError:
            reason = f"no connection within {CONNECT_TIMEOUT:g}s"
        except Exception as exc:  # noqa: BLE001 - libp2p raises many unrelated types
            reason = str(exc) or type(exc).__name__
        else:
            self._backoff.succeeded(peer_id)
            return True
        self.metrics["connect.failed"] += 1
        if dialled:
            wait = self._backoff.failed(peer_id, addrs)
            reason += f"; next dial in {wait:g}s at the earliest"
        log.warning("cannot connect to %s at %s: %s", peer_id, addrs, reason)
        return False

    def dial_soon(self, peer_id: str, addrs: list[str]) -> bool:
        """Dial ``peer_id`` in the background (``connect``, with its cap and backoff), so
        that a fetch from it later finds the connection up; a ``connect`` meanwhile waits
        for this dial instead of starting another. False, doing nothing, when the peer is
        connected, already being dialled, or ``MAX_DIALS_AHEAD`` dials are in flight."""
        if (
            peer_id == self.peer_id
            or peer_id in self._dialling
            or len(self._dialling) >= MAX_DIALS_AHEAD
            or peer_id in self.connected_peers()
        ):
            return False
        self._dialling[peer_id] = trio.Event()
        self._nursery.start_soon(self._dial_ahead, peer_id, addrs)
        return True

    def dialling(self, peer_id: str) -> bool:
        """Whether a background dial (``dial_soon``) of ``peer_id`` is under way."""
        return peer_id in self._dialling

    async def _dial_ahead(self, peer_id: str, addrs: list[str]) -> None:
        try:
            await self._dial(peer_id, addrs)
        finally:
            self._dialling.pop(peer_id).set()

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run ``fn(*args)`` beside the network, until it returns or the network stops;
        ``fn`` must handle its own errors (one escaping stops the network)."""
        self._nursery.start_soon(fn, *args)

    def remember(self, peer_id: str, addrs: list[str]) -> None:
        """Keep ``peer_id``'s addresses without dialling it: a fetch that names it as a
        provider dials it then (peers outside the overlay, see ``node/p2p/overlay.py``)."""
        try:
            pid = _parse_peer_id(peer_id)
            maddrs = _multiaddrs(peer_id, addrs)
        except Exception as exc:  # noqa: BLE001 - bad registry entries are skipped
            log.debug("not keeping the addresses of %s: %s", peer_id, exc)
            return
        if pid == self.host.get_id() or pid in self.host.get_connected_peers():
            return
        store = self.host.get_peerstore()
        store.clear_addrs(pid)
        store.add_addrs(pid, maddrs, 0)  # ttl 0: never expires; replaced on each refresh

    def _forget_dial_failures(self, pid: ID) -> None:
        """py-libp2p refuses to re-dial a peer id whose last dial failed (a "negative
        cache" keyed by peer id, not address), even with new addresses; an explicit
        dial always tries."""
        unblock = getattr(self.host.get_network(), "unblock_peer", None)
        if unblock is not None:
            unblock(pid)

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
                pids.append(_parse_peer_id(provider))
            except NetworkError as exc:
                log.warning("fetch %s: ignoring provider: %s", cid, exc)
        await self._dial_known(pids)
        return await self._exchange.fetch_blob(cid, pids, timeout)

    async def _dial_known(self, pids: list[ID]) -> None:
        """Dial providers we are not connected to but have addresses for, all at once
        (one after another, each unreachable one held the fetch up for
        ``PROVIDER_DIAL_TIMEOUT``); a provider being dialled in the background
        (``dial_soon``) is waited for instead."""
        connected = set(self.host.get_connected_peers())
        peerstore = self.host.get_peerstore()
        async with trio.open_nursery() as nursery:
            for pid in pids:
                if pid in connected or pid == self.host.get_id():
                    continue
                if self.cooldown.refuses(pid.to_base58()):
                    continue
                pending = self._dialling.get(pid.to_base58())
                if pending is not None:
                    nursery.start_soon(_wait_at_most, pending, PROVIDER_DIAL_TIMEOUT)
                    continue
                try:
                    addrs = peerstore.addrs(pid)
                except Exception:  # noqa: BLE001 - PeerStoreError: unknown or expired
                    continue
                nursery.start_soon(self._dial_provider, pid, addrs)

    async def _dial_provider(self, pid: ID, addrs: list[multiaddr.Multiaddr]) -> None:
        self._forget_dial_failures(pid)
        with trio.move_on_after(PROVIDER_DIAL_TIMEOUT):
            try:
                await self.host.connect(PeerInfo(pid, addrs))
            except Exception as exc:  # noqa: BLE001
                log.info("provider %s unreachable: %s", pid, exc)


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
