"""Blob exchange over Bitswap 1.2 (py-libp2p's ``BitswapClient``).

py-libp2p's ``BitswapClient`` moves blocks; everything about blobs is ours: the
canonical layout and CIDs (``node.store.cid``; py-libp2p 0.8.1's ``MerkleDag`` writes
Tsize 0 for raw leaves, so its CIDs differ from Kubo's), level-by-level fetching
with shape and size checks (``node.store.blobs.assemble``), and the block store.

The adapter below is the only way Bitswap touches the disk: it serves our blocks,
and it accepts a received block only if a fetch of ours currently wants it and it
hashes to its CID. Anything else is dropped and counted in ``metrics``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable

import trio
from libp2p.abc import IHost
from libp2p.bitswap.cid import CIDInput
from libp2p.peer.id import ID

from node.errors import ContentError, NetworkError
from node.store import blobs
from node.store.bitswap import Bitswap, BitswapStore, Charge
from node.store.blockstore import BlockStore
from node.store.blockstream import BlockStreamClient, BlockStreamServer
from node.store.cid import parse_cid_str
from node.types import Cid, cid_from_bytes

log = logging.getLogger(__name__)


MAX_FAST_RACERS = 3  # fast-path providers asked at once
HEDGE_DELAY = 0.5  # seconds before the next provider joins (at once if one gave up)
HEDGE_PROBE = 0.2  # ... or this soon, if the racers running sent under HEDGE_PROBE_BYTES
HEDGE_PROBE_BYTES = 16 * 1024
BITSWAP_HEAD_START = 1.0  # seconds the fast path races alone before Bitswap may join
# ... and up to this much longer while a fast-path racer is still opening its stream
# (on a busy machine opening takes seconds; Bitswap joining then only adds load)
BITSWAP_OPEN_PATIENCE = 2.0
BITSWAP_POLL = 0.1  # seconds between looks at the fast path once the head start is over
RATE_WINDOW = 2.0  # seconds over which a racing provider's throughput is measured
MIN_RATE = 32 * 1024  # bytes/s; a fast-path racer below this is dropped
RELATIVE_RATE = 8.0  # ... and so is one this many times slower than the best racer
DEMOTE_FOR = 120.0  # seconds a dropped provider is asked last


class _Race:
    """Shared state of one fetch's racers; the first verified blob ends the race."""

    def __init__(self) -> None:
        self.scope: trio.CancelScope | None = None
        self.data: bytes | None = None
        self.path = ""
        self.progress = {"blocks": 0}
        self.rates: dict[ID, float] = {}  # racing provider -> bytes/s in its last window
        self.fast_exhausted = trio.Event()  # every fast-path provider tried
        self.racer_ended = trio.Event()  # a fast-path racer gave up or was dropped
        self.clients: dict[ID, BlockStreamClient] = {}  # fast-path racers running
        self.bitswap_asked: set[bytes] = set()
        self.error: ContentError | None = None

    def received(self) -> int:
        """Bytes the running fast-path racers have read so far."""
        return sum(c.reader.received for c in self.clients.values() if c.reader is not None)

    def fast_path_busy(self, waited: float) -> bool:
        """Whether Bitswap should still stay out, ``waited`` seconds into the race: a
        fast-path racer is delivering (it answered under ``HEDGE_PROBE`` ago, or has sent
        ``HEDGE_PROBE_BYTES``; one that then slows down is dropped by the rate watch), or
        is still opening its stream within ``BITSWAP_OPEN_PATIENCE``. A racer that answered
        and then drips (under ``HEDGE_PROBE_BYTES`` after ``HEDGE_PROBE``) does not count."""
        now = trio.current_time()
        for client in self.clients.values():
            if client.reader is None:
                if waited < BITSWAP_HEAD_START + BITSWAP_OPEN_PATIENCE:
                    return True
            elif (
                client.reader.received >= HEDGE_PROBE_BYTES
                or now - client.answered_at < HEDGE_PROBE
            ):
                return True
        return False

    def win(self, data: bytes, path: str) -> None:
        if self.data is None:
            self.data, self.path = data, path
        if self.scope is not None:
            self.scope.cancel()


class BlobExchange:
    """Add, check, read and fetch blobs; serves our blocks to peers over Bitswap."""

    def __init__(
        self,
        host: IHost,
        store: BlockStore,
        metrics: Counter[str],
        max_blob_size: int,
        is_registered: Callable[[str], bool] | None = None,
    ) -> None:
        self.host = host
        self.store = store
        self.metrics = metrics
        self.max_blob_size = max_blob_size
        self._adapter = BitswapStore(store, metrics)
        self._demoted: dict[ID, float] = {}  # provider -> until when it is asked last
        self.client = Bitswap(host, self._adapter)
        self.server = BlockStreamServer(host, store, metrics, is_registered)

    def set_charge(self, charge: Charge | None) -> None:
        """``charge(peer, reason)`` for each Bitswap abuse a peer caused (node/store/bitswap.py),
        and ``blockstream.<reason>`` for its refused or stalled /fedchain/blocks/1 streams."""
        self._adapter.charge = charge
        self.server.charge = charge

    async def start(self, nursery: trio.Nursery) -> None:
        self.client.set_nursery(nursery)
        await self.client.start()

    async def add_blob(self, data: bytes) -> Cid:
        if len(data) > self.max_blob_size:
            raise ContentError(f"blob of {len(data)} bytes exceeds {self.max_blob_size}")
        cid, blocks = await trio.to_thread.run_sync(blobs.put_blob, self.store, data)
        for block_cid, block in blocks:  # wake peers whose wantlist has these blocks
            await self.client.add_block(block_cid, block)
        return cid

    def has_blob(self, cid: str) -> bool:
        try:
            root = parse_cid_str(cid)
        except ContentError:
            return False
        return blobs.is_complete(self.store, root)

    async def get_local_blob(self, cid: str) -> bytes | None:
        return await blobs.read_blob(self.store, parse_cid_str(cid), self.max_blob_size)

    async def fetch_blob(self, cid: str, providers: list[ID], timeout: float) -> bytes:
        """The blob ``cid``, from local blocks or from ``providers``.

        A race, so that no single peer can stall it: up to ``MAX_FAST_RACERS`` connected
        providers at once over ``/fedchain/blocks/1``, each joining up to ``HEDGE_DELAY``
        after the previous one (sooner if those send little; see ``_hedge``) unless the
        race is over (one stream each, every block
        verified on arrival; a racer whose throughput over ``RATE_WINDOW`` falls under
        ``MIN_RATE``, or ``RELATIVE_RATE`` times under the best racer's, is dropped and
        its slot goes to the next provider), and Bitswap, which joins after
        ``BITSWAP_HEAD_START`` whatever the fast path is doing (it also reaches Kubo and
        other IPFS peers). The first complete, verified blob wins; the rest are
        cancelled. Raises NetworkError on timeout, ContentError for invalid or oversize
        content.
        """
        root = parse_cid_str(cid)
        race = _Race()
        started = trio.current_time()
        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                race.scope = nursery.cancel_scope
                nursery.start_soon(self._race_fast, root, self._order(providers), race)
                nursery.start_soon(self._race_bitswap, root, providers, timeout, race)
        await self._cancel_wants(race.bitswap_asked)
        if race.data is None and race.error is not None:
            raise race.error
        if race.data is None:
            self.metrics["fetch.failed.timeout"] += 1
            names = ", ".join(str(p) for p in providers) or "none"
            raise NetworkError(
                f"timed out after {timeout:g}s fetching {cid} "
                f"({race.progress['blocks']} blocks received; providers: {names})"
            )
        self.metrics["fetch.ok"] += 1
        self.metrics[f"fetch.won.{race.path}"] += 1
        elapsed = trio.current_time() - started
        log.debug("fetched %s (%d B) in %.2fs over %s", cid, len(race.data), elapsed, race.path)
        return race.data

    def _order(self, providers: list[ID]) -> list[ID]:
        """``providers`` in the caller's order, recently demoted ones last."""
        now = trio.current_time()
        for peer, until in list(self._demoted.items()):
            if until <= now:
                del self._demoted[peer]
        return sorted(providers, key=lambda p: p in self._demoted)

    async def _race_fast(self, root: bytes, providers: list[ID], race: _Race) -> None:
        connected = set(self.host.get_connected_peers())
        slots = trio.Semaphore(MAX_FAST_RACERS)
        try:
            async with trio.open_nursery() as nursery:
                for i, peer in enumerate(p for p in providers if p in connected):
                    await slots.acquire()
                    if i > 0:
                        await self._hedge(race)
                    nursery.start_soon(self._fast_one, root, peer, race, slots)
        finally:
            race.fast_exhausted.set()

    async def _hedge(self, race: _Race) -> None:
        """Wait before the next fast-path racer joins: ``HEDGE_DELAY``, cut short when
        a racer gave up or when the racers running got under ``HEDGE_PROBE_BYTES`` in
        the first ``HEDGE_PROBE`` seconds (a provider that answers and then drips)."""
        base = race.received()
        with trio.move_on_after(HEDGE_DELAY):
            with trio.move_on_after(HEDGE_PROBE):
                await race.racer_ended.wait()
            if race.received() - base >= HEDGE_PROBE_BYTES:
                await race.racer_ended.wait()
        race.racer_ended = trio.Event()

    async def _fast_one(self, root: bytes, peer: ID, race: _Race, slots: trio.Semaphore) -> None:
        client = BlockStreamClient(self.host, self.store, peer)
        race.clients[peer] = client
        data = None
        try:
            if not await client.open(root):
                self.metrics["blockstream.unopened"] += 1  # its slot goes to the next one
                return

            async def fetch(cids: list[bytes]) -> dict[bytes, bytes]:
                blocks = await client.fetch(cids)
                race.progress["blocks"] += len(blocks)
                return blocks

            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_rate, client, peer, race, nursery.cancel_scope)
                try:
                    data = await blobs.assemble(root, fetch, self.max_blob_size)
                except ContentError as exc:  # Bitswap then re-checks what we already hold
                    self.metrics["blockstream.bad_content"] += 1
                    log.warning("blockstream: bad content from %s: %s", peer, exc)
                except NetworkError as exc:
                    self.metrics["blockstream.broken"] += 1
                    log.info("blockstream: fetch from %s broke off: %s", peer, exc)
                else:
                    self.metrics["blockstream.fetched"] += 1
                    race.win(data, "blockstream")
                nursery.cancel_scope.cancel()
        finally:
            race.rates.pop(peer, None)
            race.clients.pop(peer, None)
            race.racer_ended.set()
            slots.release()
            with trio.CancelScope(shield=True):
                await client.close(reset=data is None)

    async def _watch_rate(
        self, client: BlockStreamClient, peer: ID, race: _Race, scope: trio.CancelScope
    ) -> None:
        """Drop ``peer`` from the race when it sends too slowly (bytes/s over a window).

        Only windows that end with us waiting on the network count: if our own
        verification is the bottleneck the provider is not to blame.
        """
        seen = 0
        while True:
            await trio.sleep(RATE_WINDOW)
            reader = client.reader
            if reader is None:
                continue
            rate = (reader.received - seen) / RATE_WINDOW
            seen = reader.received
            race.rates[peer] = rate
            best = max(race.rates.values())
            if reader.waiting and (rate < MIN_RATE or rate * RELATIVE_RATE < best):
                self.metrics["fetch.demoted.slow"] += 1
                self._demoted[peer] = trio.current_time() + DEMOTE_FOR
                log.info(
                    "blockstream: %s sends %.0f B/s (best racer %.0f B/s): dropped from "
                    "the race, asked last for %gs",
                    peer,
                    rate,
                    best,
                    DEMOTE_FOR,
                )
                scope.cancel()
                return

    async def _race_bitswap(
        self, root: bytes, providers: list[ID], timeout: float, race: _Race
    ) -> None:
        """Bitswap joins once the fast path gave up, or after ``BITSWAP_HEAD_START`` unless
        a fast-path racer is delivering or still opening (``_Race.fast_path_busy``).

        It used to join after the head start whatever the fast path did: with 8 nodes on 2
        cores opening a stream took 0.5-3 s, so Bitswap joined nearly every fetch, asked
        every connected peer (WANT-HAVE) and had blocks sent by several of them (1.1-5.8x
        the bytes needed), which slowed the machine further until first attempts failed.
        """
        started = trio.current_time()
        with trio.move_on_after(BITSWAP_HEAD_START):
            await race.fast_exhausted.wait()
        while not race.fast_exhausted.is_set() and race.fast_path_busy(
            trio.current_time() - started
        ):
            with trio.move_on_after(BITSWAP_POLL):
                await race.fast_exhausted.wait()
        try:
            data = await self._fetch_bitswap(root, providers, timeout, race)
        except ContentError as exc:  # the blob itself is invalid (e.g. oversize): stop
            race.error = exc
            if race.scope is not None:
                race.scope.cancel()
            return
        race.win(data, "bitswap")

    async def _cancel_wants(self, cids: set[bytes]) -> None:
        """Withdraw the wants a cancelled Bitswap racer left behind (py-libp2p's own
        cleanup awaits inside the cancelled scope and is cut short)."""
        for cid in cids:
            with contextlib.suppress(Exception):
                await self.client.cancel_want(cid)

    async def _fetch_bitswap(
        self, root: bytes, providers: list[ID], timeout: float, race: _Race
    ) -> bytes:
        session = self.client.new_session()

        async def fetch(cids: list[bytes]) -> dict[bytes, bytes]:
            missing = [c for c in cids if not self.store.has(c)]
            wanted = list(missing)
            race.bitswap_asked.update(wanted)
            self._adapter.want(wanted)
            try:
                with self.client.scoped(wanted, providers):
                    attempt = 0
                    while missing:
                        peer = self._pick_peer(providers, attempt)
                        budget = 2.0 + 2.0 * attempt
                        await session.get_blocks_batch(
                            list[CIDInput](missing),
                            peer_id=peer,
                            timeout=min(budget, timeout),
                            batch_size=64,
                        )
                        missing = [c for c in missing if not self.store.has(c)]
                        attempt += 1
            finally:
                self._adapter.unwant(wanted)
            out: dict[bytes, bytes] = {}
            for c in cids:
                block = self.store.get(c)
                if block is None:
                    raise ContentError(f"block {cid_from_bytes(c)} vanished from the store")
                out[c] = block
            race.progress["blocks"] += len(cids)
            return out

        self.metrics["fetch.bitswap"] += 1
        return await blobs.assemble(root, fetch, self.max_blob_size)

    def _pick_peer(self, providers: list[ID], attempt: int) -> ID | None:
        """Every other try asks all the connected providers at once (WANT-HAVE to each,
        every connected peer if none is listed; blocks from those that answer HAVE), so
        providers listed first cannot hold Bitswap up; in between, the connected
        providers in turn, demoted ones last."""
        connected = set(self.host.get_connected_peers())
        live = [p for p in self._order(providers) if p in connected]
        if not live or attempt % 2 == 0:
            return None
        return live[(attempt // 2) % len(live)]
