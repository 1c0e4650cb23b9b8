"""Bitswap 1.2 on py-libp2p's ``BitswapClient``: our block store behind it, Kubo interop
fixes, and per-peer limits on what a peer can make us hold.

py-libp2p 0.8.1 queued a fresh copy of a block for every want-list entry (one 32 kB
message with 800 want-blocks for one 256 KiB block: +200 MB), kept every want of every
peer, and waited on a half-sent frame for as long as the stream lived. Here, per peer:
at most ``PEER_STREAMS`` inbound streams at once and ``WANT_RATE`` wants processed a
second; wants in one message are deduplicated and capped (``MAX_MESSAGE_WANTS``), the wants
remembered are capped (``MAX_PEER_WANTS``), the block bytes queued for it are capped
(``MAX_PEER_QUEUED_BYTES``, counting what a send under way took; wants over it are
answered later, when the peer asks again), a message we send must be read within
``SEND_TIMEOUT`` (node/store/sendqueue.py: else the stream is reset, the peer's queue
and wants dropped, ``send_stall``) and a frame must arrive whole within ``FRAME_TIMEOUT``
of its first byte. Everything
refused is counted in ``metrics["bitswap.rejected.<reason>"]``, and the peer that sent it
is charged through ``charge(peer, reason)`` (node/p2p/peer_score.py ``BITSWAP_PENALTIES``
says which reasons cost what; the network wires it to the peer score and cut-off).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.bitswap import BlockStore as LibBlockStore
from libp2p.bitswap.cid import CIDInput, CIDObject, get_cid_prefix
from libp2p.bitswap.cid import parse_cid as lib_parse_cid
from libp2p.bitswap.config import BITSWAP_PROTOCOL_V100, MAX_MESSAGE_SIZE
from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.peer.id import ID

from node.errors import ContentError
from node.store.blockstore import BlockStore
from node.store.sendqueue import BoundedSendQueue
from node.store.wants import ScopedWants
from node.stream_cap import PeerStreamCap
from node.types import cid_from_bytes

log = logging.getLogger(__name__)

MAX_MESSAGE_WANTS = 1024  # want-list entries read from one message
MAX_PEER_WANTS = 4096  # wants remembered per peer
MAX_PEER_QUEUED_BYTES = 4 * 2**20  # block bytes queued for one peer, not yet flushed
FRAME_TIMEOUT = 10.0  # seconds from a frame's first byte to its last
PEER_STREAMS = 8  # inbound Bitswap streams one peer may hold open at once
WANT_RATE = 2048  # wants processed per peer and second (and burst)
LATE_GRACE = 30.0  # seconds a block stays welcome after the fetch that wanted it gave up
MAX_LATE = 4096  # such recently wanted blocks remembered at once

Charge = Callable[[ID, str], None]  # (peer, reason): a ``bitswap.rejected`` reason it caused

# The peer whose message the current task is processing: py-libp2p hands received blocks
# to the block store without saying who sent them.
_sender: ContextVar[ID | None] = ContextVar("bitswap_sender", default=None)


def _cid_bytes(cid: CIDInput) -> bytes:
    return bytes(lib_parse_cid(cid).buffer)


class BitswapStore(LibBlockStore):
    """Our BlockStore as py-libp2p's BlockStore, gated by the set of wanted CIDs."""

    def __init__(self, store: BlockStore, metrics: Counter[str]) -> None:
        self.store = store
        self.metrics = metrics
        self.wanted: Counter[bytes] = Counter()
        # blocks a fetch attempt wanted and gave up on -> until when they are still welcome:
        # on a busy machine a block often lands just after its attempt timed out, and the
        # next attempt should find it rather than ask for it again
        self.late: dict[bytes, float] = {}
        self.charge: Charge | None = None

    def reject(self, reason: str, peer: ID | None = None, count: int = 1) -> None:
        """Count ``count`` rejections and charge the peer that caused them once (the
        sender of the message being processed unless ``peer`` is given)."""
        self.metrics[f"bitswap.rejected.{reason}"] += count
        peer = peer if peer is not None else _sender.get()
        if peer is not None and self.charge is not None:
            self.charge(peer, reason)

    def want(self, cids: list[bytes]) -> None:
        self.wanted.update(cids)

    def unwant(self, cids: list[bytes]) -> None:
        """A fetch attempt is over: what it still lacks stays welcome for ``LATE_GRACE``."""
        self.wanted.subtract(cids)
        self.wanted += Counter()  # drop non-positive counts
        now = trio.current_time()
        for key in list(self.late):
            if self.late[key] <= now:
                del self.late[key]
        for key in cids:
            if len(self.late) >= MAX_LATE:
                break
            if not self.store.has(key):
                self.late[key] = now + LATE_GRACE

    def welcome(self, key: bytes) -> bool:
        if key in self.wanted:
            return True
        until = self.late.get(key)
        return until is not None and until > trio.current_time()

    async def get_block(self, cid: CIDInput) -> bytes | None:
        return self.store.get(_cid_bytes(cid))

    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        key = _cid_bytes(cid)
        if self.store.has(key):
            return
        if not self.welcome(key):
            self.reject("unsolicited_block")
            log.debug("bitswap: dropped unsolicited block %s", cid_from_bytes(key))
            return
        if key not in self.wanted:
            self.metrics["bitswap.late_block"] += 1
        try:
            self.store.put(key, data)
        except ContentError as exc:
            self.reject("block_mismatch")
            log.warning("bitswap: rejected block: %s", exc)
        else:
            self.late.pop(key, None)

    async def has_block(self, cid: CIDInput) -> bool:
        return self.store.has(_cid_bytes(cid))

    async def delete_block(self, cid: CIDInput) -> None:
        self.store.delete(_cid_bytes(cid))

    def get_all_cids(self) -> list[bytes]:
        return []  # not needed: we never announce our whole store


class Bitswap(ScopedWants):
    """py-libp2p's client, answering want-lists the way go-bitswap (Kubo) expects, and
    sending ours to the fetch's providers only (``node.store.wants``).

    py-libp2p 0.8.1 writes its answers (blocks, HAVE / DONT_HAVE) back on the stream
    that carried the want-list. go-bitswap never reads that stream: its peers only send
    on streams they open, and take answers on streams the *other* side opens. So a Kubo
    peer asking us for a block waited forever. Here every answer goes through the
    per-peer message queue, i.e. on our own outbound stream, as the Bitswap spec has it;
    py-libp2p peers read messages on inbound streams too, so they get them as well.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbound = PeerStreamCap(PEER_STREAMS)
        self._want_tokens: dict[ID, tuple[float, float]] = {}  # peer -> (tokens, when)

    async def _handle_stream(self, stream: INetStream) -> None:
        await self._inbound.run(
            stream, super()._handle_stream, lambda peer: self._reject("peer_streams", peer)
        )

    def get_or_create_message_queue(self, peer_id: ID) -> BoundedSendQueue:
        """py-libp2p's, with our ``BoundedSendQueue`` (a send the peer never reads)."""
        queue = self._message_queues.get(peer_id)
        if not isinstance(queue, BoundedSendQueue):
            queue = BoundedSendQueue(
                host=self.host,
                peer_id=peer_id,
                supported_protocols=self.supported_protocols,
                on_stream_opened=self._on_message_queue_stream_opened,
                on_stall=self._on_send_stall,
            )
            if self._nursery is not None:
                queue.start(self._nursery)
            self._message_queues[peer_id] = queue
        return queue

    def _on_send_stall(self, peer: ID) -> None:
        """``peer`` left a message of ours unread for ``SEND_TIMEOUT``: its remembered
        wants go with the blocks dropped (it asks again if it is alive) and it is charged."""
        self._peer_wantlists.pop(peer, None)
        self._reject("send_stall", peer)

    def _take_token(self, peer: ID) -> bool:
        """One want from ``peer`` may be processed (a token bucket of ``WANT_RATE``
        a second, ``WANT_RATE`` deep): parsing and looking up wants costs CPU."""
        now = trio.current_time()
        tokens, at = self._want_tokens.get(peer, (float(WANT_RATE), now))
        tokens = min(float(WANT_RATE), tokens + (now - at) * WANT_RATE)
        if tokens < 1:
            self._want_tokens[peer] = (tokens, now)
            return False
        self._want_tokens[peer] = (tokens - 1, now)
        return True

    @property
    def _metrics(self) -> Counter[str]:
        store = self.block_store
        return store.metrics if isinstance(store, BitswapStore) else Counter()

    def _reject(self, reason: str, peer: ID, count: int = 1) -> None:
        store = self.block_store
        if isinstance(store, BitswapStore):
            store.reject(reason, peer, count)

    async def _process_message(self, msg: Message, peer_id: ID, stream: INetStream) -> None:
        token = _sender.set(peer_id)  # blocks in it are charged to peer_id (BitswapStore)
        try:
            await super()._process_message(msg, peer_id, stream)
        finally:
            _sender.reset(token)

    async def _process_blocks_v100(self, blocks: list[bytes], peer_id: ID) -> None:
        """Blocks in the Bitswap 1.0 format carry no CID: py-libp2p hashes each against
        every CID it expects from the peer. Expecting none, they are all unsolicited."""
        if not self.presence_manager.get_expected_for_peer(peer_id):
            if blocks:
                self._reject("unsolicited_block", peer_id, len(blocks))
            return
        await super()._process_blocks_v100(blocks, peer_id)

    async def _send_wantlist_responses_inline(
        self,
        stream: INetStream,
        peer_id: ID,
        blocks_to_send_v100: list[bytes],
        blocks_to_send_v110: list[tuple[bytes, bytes]],
        presences_to_send: list[tuple[CIDObject, bool]],
    ) -> None:
        metrics = self._metrics
        metrics["bitswap.bytes_served"] += sum(len(b) for b in blocks_to_send_v100)
        metrics["bitswap.bytes_served"] += sum(len(b) for _, b in blocks_to_send_v110)
        queue = self.get_or_create_message_queue(peer_id)
        if blocks_to_send_v100:
            queue.add_blocks_v100(blocks_to_send_v100)
        if blocks_to_send_v110:
            queue.add_blocks_v110(blocks_to_send_v110)
        if presences_to_send:
            queue.add_presences(presences_to_send)
        queued = queue.queued_bytes()
        if queued > metrics["bitswap.peak_queued_bytes"]:
            metrics["bitswap.peak_queued_bytes"] = queued
        if not queue._started:  # no nursery (never the case in BlobExchange)
            await queue.flush()

    async def _process_wantlist(self, wantlist: Any, peer_id: ID, stream: INetStream) -> None:
        """Remember the peer's wants and answer them, within the per-peer limits.

        Replaces py-libp2p's version, which queued one copy of a block per entry (no
        dedup), kept every want, and skipped the empty block (the 0-byte blob, which
        Kubo then waited for forever).
        """
        metrics = self._metrics
        metrics["bitswap.wantlists_received"] += 1
        wants = self._peer_wantlists.setdefault(peer_id, {})
        if wantlist.full:
            wants.clear()
        v100 = self._peer_protocols.get(peer_id, BITSWAP_PROTOCOL_V100) == BITSWAP_PROTOCOL_V100
        refused: Counter[str] = Counter()  # reason -> entries: the sender is charged once
        entries = list(wantlist.entries)
        if len(entries) > MAX_MESSAGE_WANTS:
            refused["message_wants"] += len(entries) - MAX_MESSAGE_WANTS
            entries = entries[:MAX_MESSAGE_WANTS]
        queue = self.get_or_create_message_queue(peer_id)
        budget = MAX_PEER_QUEUED_BYTES - queue.queued_bytes()
        seen: set[bytes] = set()
        blocks_v100: list[bytes] = []
        blocks_v110: list[tuple[bytes, bytes]] = []
        presences: list[tuple[CIDObject, bool]] = []
        for entry in entries:
            if entry.block in seen:  # before parsing: parse_cid is the costly part
                refused["duplicate_want"] += 1
                continue
            seen.add(entry.block)
            if not entry.cancel and not self._take_token(peer_id):
                refused["want_rate"] += 1
                continue
            try:
                cid = lib_parse_cid(entry.block)
            except Exception:  # noqa: BLE001 - malformed entries are skipped
                refused["bad_cid"] += 1
                continue
            if entry.cancel:
                wants.pop(cid, None)
                continue
            if cid not in wants and len(wants) >= MAX_PEER_WANTS:
                refused["peer_wants"] += 1
                continue
            wants[cid] = {
                "priority": entry.priority,
                "want_type": entry.wantType,
                "send_dont_have": entry.sendDontHave,
            }
            if entry.wantType == 1:  # WANT-HAVE: HAVE or DONT_HAVE, no bytes
                presences.append((cid, await self.block_store.has_block(cid)))
                continue
            data = await self.block_store.get_block(cid)
            if data is None:
                if entry.sendDontHave:
                    presences.append((cid, False))
                continue
            if len(data) > budget:
                refused["queue_full"] += 1
                continue
            budget -= len(data)
            if v100:
                blocks_v100.append(data)
            else:
                blocks_v110.append((get_cid_prefix(cid), data))
        for reason, count in refused.items():
            self._reject(reason, peer_id, count)
        if blocks_v100 or blocks_v110 or presences:
            await self._send_wantlist_responses_inline(
                stream, peer_id, blocks_v100, blocks_v110, presences
            )

    async def _read_message(self, stream: INetStream) -> Message | None:
        """One length-prefixed message; None at EOF, on a bad frame, or when a frame
        that started does not arrive whole within ``FRAME_TIMEOUT``."""
        peer = stream.muxed_conn.peer_id
        try:
            first = await stream.read(1)  # idle between messages: the caller's deadline
            if not first:
                return None
            with trio.fail_after(FRAME_TIMEOUT):
                prefix = first
                while prefix[-1] & 0x80:
                    if len(prefix) >= 10:
                        self._reject("bad_frame", peer)
                        return None
                    byte = await stream.read(1)
                    if not byte:
                        return None
                    prefix += byte
                length = sum((b & 0x7F) << (7 * i) for i, b in enumerate(prefix))
                if length > MAX_MESSAGE_SIZE:
                    self._reject("oversize", peer)
                    return None
                data = bytearray()
                while len(data) < length:
                    chunk = await stream.read(length - len(data))
                    if not chunk:
                        return None
                    data += chunk
        except trio.TooSlowError:
            self._reject("half_frame", peer)
            log.info("bitswap: a frame from %s stalled half way; dropping the stream", peer)
            with contextlib.suppress(Exception):
                await stream.reset()
            return None
        except Exception as exc:  # noqa: BLE001 - resets, EOF, closed connections
            log.debug("bitswap: read failed: %r", exc)
            return None
        msg = Message()
        try:
            msg.ParseFromString(bytes(data))
        except Exception:  # noqa: BLE001 - protobuf DecodeError
            self._reject("garbage", peer)
            return None
        return msg

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
