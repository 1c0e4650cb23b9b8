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
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.bitswap import BitswapClient
from libp2p.bitswap import BlockStore as LibBlockStore
from libp2p.bitswap.cid import CIDInput, CIDObject, get_cid_prefix
from libp2p.bitswap.cid import parse_cid as lib_parse_cid
from libp2p.peer.id import ID

from node.errors import ContentError, NetworkError
from node.store import blobs
from node.store.blockstore import BlockStore
from node.store.blockstream import BlockStreamClient, BlockStreamServer
from node.store.cid import parse_cid_str
from node.types import Cid, cid_from_bytes

log = logging.getLogger(__name__)


def _cid_bytes(cid: CIDInput) -> bytes:
    return bytes(lib_parse_cid(cid).buffer)


class _BitswapStore(LibBlockStore):
    """Our BlockStore as py-libp2p's BlockStore, gated by the set of wanted CIDs."""

    def __init__(self, store: BlockStore, metrics: Counter[str]) -> None:
        self.store = store
        self.metrics = metrics
        self.wanted: Counter[bytes] = Counter()

    async def get_block(self, cid: CIDInput) -> bytes | None:
        return self.store.get(_cid_bytes(cid))

    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        key = _cid_bytes(cid)
        if self.store.has(key):
            return
        if key not in self.wanted:
            self.metrics["bitswap.rejected.unsolicited_block"] += 1
            log.debug("bitswap: dropped unsolicited block %s", cid_from_bytes(key))
            return
        try:
            self.store.put(key, data)
        except ContentError as exc:
            self.metrics["bitswap.rejected.block_mismatch"] += 1
            log.warning("bitswap: rejected block: %s", exc)

    async def has_block(self, cid: CIDInput) -> bool:
        return self.store.has(_cid_bytes(cid))

    async def delete_block(self, cid: CIDInput) -> None:
        self.store.delete(_cid_bytes(cid))

    def get_all_cids(self) -> list[bytes]:
        return []  # not needed: we never announce our whole store


class _Bitswap(BitswapClient):
    """py-libp2p's client, answering want-lists the way go-bitswap (Kubo) expects.

    py-libp2p 0.8.1 writes its answers (blocks, HAVE / DONT_HAVE) back on the stream
    that carried the want-list. go-bitswap never reads that stream: its peers only send
    on streams they open, and take answers on streams the *other* side opens. So a Kubo
    peer asking us for a block waited forever. Here every answer goes through the
    per-peer message queue, i.e. on our own outbound stream, as the Bitswap spec has it;
    py-libp2p peers read messages on inbound streams too, so they get them as well.
    """

    async def _send_wantlist_responses_inline(
        self,
        stream: INetStream,
        peer_id: ID,
        blocks_to_send_v100: list[bytes],
        blocks_to_send_v110: list[tuple[bytes, bytes]],
        presences_to_send: list[tuple[CIDObject, bool]],
    ) -> None:
        metrics = self.block_store.metrics if isinstance(self.block_store, _BitswapStore) else None
        if metrics is not None:
            metrics["bitswap.bytes_served"] += sum(len(b) for b in blocks_to_send_v100)
            metrics["bitswap.bytes_served"] += sum(len(b) for _, b in blocks_to_send_v110)
        queue = self.get_or_create_message_queue(peer_id)
        if blocks_to_send_v100:
            queue.add_blocks_v100(blocks_to_send_v100)
        if blocks_to_send_v110:
            queue.add_blocks_v110(blocks_to_send_v110)
        if presences_to_send:
            queue.add_presences(presences_to_send)
        if not queue._started:  # no nursery (never the case in BlobExchange)
            await queue.flush()

    async def _process_wantlist(self, wantlist: Any, peer_id: ID, stream: INetStream) -> None:
        await super()._process_wantlist(wantlist, peer_id, stream)
        # py-libp2p skips blocks whose data is falsy, so the empty block (the blob of
        # 0 bytes, CIDv1 raw) was never sent: Kubo waited forever for it.
        empty: list[tuple[bytes, bytes]] = []
        for entry in wantlist.entries:
            if entry.cancel:
                continue
            try:
                cid = lib_parse_cid(entry.block)
            except Exception:  # noqa: BLE001 - malformed entries are skipped upstream too
                continue
            if await self.block_store.get_block(cid) == b"":
                empty.append((get_cid_prefix(cid), b""))
        if empty:
            self.get_or_create_message_queue(peer_id).add_blocks_v110(empty)

    def _on_message_queue_stream_opened(self, stream: INetStream, peer_id: ID) -> None:
        # py-libp2p attaches a reader that *closes* our outbound stream as soon as no
        # block is expected from the peer, i.e. at once when the stream was opened to
        # answer a want-list; the answer was then written to a closed stream. Read
        # (answers of peers that reply inline) without ever closing it instead.
        if self._nursery is not None:
            self._nursery.start_soon(self._read_until_eof, stream, peer_id)

    async def _read_until_eof(self, stream: INetStream, peer_id: ID) -> None:
        try:
            while True:
                msg = await self._read_message(stream)
                if msg is None:
                    return
                await self._process_message(msg, peer_id, stream)
        except Exception as exc:  # noqa: BLE001 - stream resets of all kinds
            log.debug("bitswap: outbound stream to %s ended: %s", peer_id, exc)


MAX_FAST_RACERS = 3  # fast-path providers asked at once
BITSWAP_HEAD_START = 1.0  # seconds the fast path races alone before Bitswap joins
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
        self.bitswap_asked: set[bytes] = set()
        self.error: ContentError | None = None

    def win(self, data: bytes, path: str) -> None:
        if self.data is None:
            self.data, self.path = data, path
        if self.scope is not None:
            self.scope.cancel()


class BlobExchange:
    """Add, check, read and fetch blobs; serves our blocks to peers over Bitswap."""

    def __init__(
        self, host: IHost, store: BlockStore, metrics: Counter[str], max_blob_size: int
    ) -> None:
        self.host = host
        self.store = store
        self.metrics = metrics
        self.max_blob_size = max_blob_size
        self._adapter = _BitswapStore(store, metrics)
        self._demoted: dict[ID, float] = {}  # provider -> until when it is asked last
        self.client = _Bitswap(host, self._adapter)
        self.server = BlockStreamServer(host, store, metrics)

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
        providers at once over ``/fedchain/blocks/1`` (one stream each, every block
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
                for peer in [p for p in providers if p in connected]:
                    await slots.acquire()
                    nursery.start_soon(self._fast_one, root, peer, race, slots)
        finally:
            race.fast_exhausted.set()

    async def _fast_one(self, root: bytes, peer: ID, race: _Race, slots: trio.Semaphore) -> None:
        client = BlockStreamClient(self.host, self.store, peer)
        data = None
        try:
            if not await client.open(root):
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
        with trio.move_on_after(BITSWAP_HEAD_START):
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
            if not self.store.has(cid):
                continue
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
            self._adapter.wanted.update(wanted)
            try:
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
                self._adapter.wanted.subtract(wanted)
                self._adapter.wanted += Counter()  # drop non-positive counts
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
        """Every other try asks everyone (WANT-HAVE to each connected peer, blocks from
        those that answer HAVE), so providers listed first cannot hold Bitswap up;
        in between, the connected providers in turn, demoted ones last."""
        connected = set(self.host.get_connected_peers())
        live = [p for p in self._order(providers) if p in connected]
        if not live or attempt % 2 == 0:
            return None
        return live[(attempt // 2) % len(live)]
