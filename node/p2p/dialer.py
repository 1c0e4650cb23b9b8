"""Dialling peers: the connection cap, per-peer backoff after failed dials, background
dials ahead of a fetch, graylisted peers not dialled, and providers dialled for a fetch."""

from __future__ import annotations

import logging
from collections import Counter

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from node.errors import NetworkError
from node.p2p.peer_gate import PeerCooldown

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
PROVIDER_DIAL_TIMEOUT = 5.0
MAX_CONNECTIONS = 64
BACKOFF_INITIAL = 1.0  # seconds after a failed dial before connect() dials that peer again
BACKOFF_MAX = 60.0  # the wait doubles with each further failure, up to this
MAX_DIALS_AHEAD = 16  # background dials (``dial_soon``) in flight at once
DIAL_TIME_WEIGHT = 0.25  # weight of the latest dial in ``typical_dial_s``


class DialBackoff:
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


def multiaddrs(peer_id: str, addrs: list[str]) -> list[multiaddr.Multiaddr]:
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


def parse_peer_id(peer_id: str) -> ID:
    try:
        return ID.from_base58(peer_id)
    except Exception as exc:  # noqa: BLE001 - base58 / multihash errors of all kinds
        raise NetworkError(f"invalid peer id {peer_id!r}: {exc}") from exc


class Dialer:
    """One node's outbound dials (``PeerNetwork`` delegates its peer methods here)."""

    def __init__(
        self,
        host: IHost,
        nursery: trio.Nursery,
        metrics: Counter[str],
        cooldown: PeerCooldown,
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
        self.cooldown = cooldown
        self._nursery = nursery
        self.max_connections = max_connections
        self.backoff = DialBackoff(backoff_initial, backoff_max)
        self._dialling: dict[str, trio.Event] = {}  # peer id -> set when its dial ended
        self._dial_s: float | None = None  # moving average of successful dials' seconds

    def connected_peers(self) -> set[str]:
        return {pid.to_base58() for pid in self.host.get_connected_peers()}

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
            pid = parse_peer_id(peer_id)
            if pid == self.host.get_id():
                raise NetworkError("refusing to dial ourselves")
            maddrs = multiaddrs(peer_id, addrs)
            connected = self.host.get_connected_peers()
            if pid in connected:
                self.backoff.succeeded(peer_id)
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
            wait = self.backoff.blocked_for(peer_id, addrs)
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
            began = trio.current_time()
            with trio.fail_after(CONNECT_TIMEOUT):
                await self.host.connect(PeerInfo(pid, maddrs))
            self._took(trio.current_time() - began)
        except trio.TooSlowError:
            reason = f"no connection within {CONNECT_TIMEOUT:g}s"
        except Exception as exc:  # noqa: BLE001 - libp2p raises many unrelated types
            reason = str(exc) or type(exc).__name__
        else:
            self.backoff.succeeded(peer_id)
            return True
        self.metrics["connect.failed"] += 1
        if dialled:
            wait = self.backoff.failed(peer_id, addrs)
            reason += f"; next dial in {wait:g}s at the earliest"
        log.warning("cannot connect to %s at %s: %s", peer_id, addrs, reason)
        return False

    def _took(self, seconds: float) -> None:
        if self._dial_s is None:
            self._dial_s = seconds
        else:
            self._dial_s += DIAL_TIME_WEIGHT * (seconds - self._dial_s)

    def typical_dial_s(self) -> float:
        """How long this node's recent dials took (a moving average over successful dials;
        0 before the first): a loaded machine's dials, and its peers', take longer."""
        return self._dial_s or 0.0

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

    def remember(self, peer_id: str, addrs: list[str]) -> None:
        """Keep ``peer_id``'s addresses without dialling it: a fetch that names it as a
        provider dials it then (peers outside the overlay, see ``node/p2p/overlay.py``)."""
        try:
            pid = parse_peer_id(peer_id)
            maddrs = multiaddrs(peer_id, addrs)
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

    async def dial_known(self, pids: list[ID]) -> None:
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
