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

import logging
import math
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

        Each connected provider is first asked over ``/fedchain/blocks/1`` (one stream,
        every block verified on arrival); whatever is still missing then comes over
        Bitswap, which also reaches Kubo and other IPFS peers. Raises NetworkError on
        timeout, ContentError for invalid or oversize content.
        """
        root = parse_cid_str(cid)
        progress = {"blocks": 0}
        started = trio.current_time()
        path, fast_failed_after = "blockstream", 0.0
        with trio.move_on_after(timeout) as scope:
            data = await self._fetch_fast(root, providers, progress)
            if data is None:
                path = "bitswap"
                fast_failed_after = trio.current_time() - started
                data = await self._fetch_bitswap(root, providers, timeout, progress)
        if scope.cancelled_caught or data is None:
            self.metrics["fetch.failed.timeout"] += 1
            names = ", ".join(str(p) for p in providers) or "none"
            raise NetworkError(
                f"timed out after {timeout:g}s fetching {cid} "
                f"({progress['blocks']} blocks received; providers: {names})"
            )
        self.metrics["fetch.ok"] += 1
        elapsed = trio.current_time() - started
        if path == "bitswap":
            log.info("fetched %s (%d B) in %.2fs over Bitswap after the fast path gave up "
                     "at %.2fs", cid, len(data), elapsed, fast_failed_after)  # fmt: skip
        else:
            log.debug("fetched %s (%d B) in %.2fs over the fast path", cid, len(data), elapsed)
        return data

    async def _fetch_fast(
        self, root: bytes, providers: list[ID], progress: dict[str, int]
    ) -> bytes | None:
        connected = set(self.host.get_connected_peers())
        for peer in [p for p in providers if p in connected]:
            client = BlockStreamClient(self.host, self.store, peer)
            if not await client.open(root):
                continue

            async def fetch(cids: list[bytes], client: BlockStreamClient = client) -> dict:
                blocks = await client.fetch(cids)
                progress["blocks"] += len(blocks)
                return blocks

            data = None
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
            finally:
                await client.close(reset=data is None)
            if data is not None:
                return data
        return None

    async def _fetch_bitswap(
        self, root: bytes, providers: list[ID], timeout: float, progress: dict[str, int]
    ) -> bytes:
        session = self.client.new_session()

        async def fetch(cids: list[bytes]) -> dict[bytes, bytes]:
            missing = [c for c in cids if not self.store.has(c)]
            wanted = list(missing)
            self._adapter.wanted.update(wanted)
            try:
                attempt = 0
                while missing:
                    peer = self._pick_peer(providers, attempt)
                    budget = math.inf if peer is None else 2.0 + 2.0 * attempt
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
            progress["blocks"] += len(cids)
            return out

        self.metrics["fetch.bitswap"] += 1
        return await blobs.assemble(root, fetch, self.max_blob_size)

    def _pick_peer(self, providers: list[ID], attempt: int) -> ID | None:
        """Alternate between the connected providers; every third try, ask everyone."""
        connected = set(self.host.get_connected_peers())
        live = [p for p in providers if p in connected]
        if not live or attempt % 3 == 2:
            return None  # WANT-HAVE to every connected peer
        return live[attempt % len(live)]
