"""``/fedchain/blocks/1``: stream every block of a blob over one libp2p stream.

Bitswap moves blocks one want-list round trip at a time; py-libp2p's implementation
reaches a fraction of what one stream carries. Between fedchain nodes a fetch first
asks a provider on this protocol, which answers with the whole DAG in the order
``blobs.assemble`` consumes it (breadth first, links in order). Nothing is trusted:
every block is checked against the CID its parent names as it arrives, then stored,
so a fetch that breaks off midway resumes over Bitswap from the blocks already held.
Kubo and other IPFS peers don't speak this protocol; for them Bitswap stays.

Wire format (all lengths unsigned varints):

    request:  <len> <binary root CID>
    response: <status byte: 0 ok, 1 not found>
              then, if ok, per block: <len> <binary CID> <len> <block>
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from node.errors import ContentError, NetworkError
from node.store import blobs, dagpb
from node.store.blockstore import MAX_BLOCK_SIZE, BlockStore
from node.store.cid import CODEC_DAG_PB, parse_cid
from node.store.sendqueue import window_stalled

log = logging.getLogger(__name__)

PROTOCOL = TProtocol("/fedchain/blocks/1")
STATUS_OK = 0
STATUS_NOT_FOUND = 1
MAX_CID_LEN = 128
READ_SIZE = 256 * 1024
SERVE_LIMIT = 16  # streams served at once, all peers together
PEER_STREAMS = 2  # streams one peer may hold open at once
# seconds for a client to send its whole request, from the end of the protocol
# negotiation: as long as the client waits for our answer (OPEN_TIMEOUT). At 2 s, with 8
# nodes on 2 busy cores, a quarter of the streams were dropped here because the client
# had not yet been scheduled to read our echo and send the request (a slow sender still
# holds only one of its PEER_STREAMS, and no serving slot)
REQUEST_TIMEOUT = 5.0
# seconds a client may leave a 256 KiB chunk unread (py-libp2p's yamux gives up sooner,
# after 5 s without send window): ``write_stall``, charged. An honest client reads until it
# resets the stream (a racer that lost, a fetch given up, an open that timed out)
WRITE_TIMEOUT = 10.0
OPEN_TIMEOUT = 5.0
# refusals a peer may run into uncharged (counted in ``blockstream.refused.<reason>`` only),
# and how fast that allowance comes back: an honest peer meets a few (one that registered a
# moment ago, before our registry copy has it; parallel fetches from one provider over
# PEER_STREAMS), a flood of them is charged (node/p2p/peer_score.py BLOCKSTREAM_PENALTIES)
FREE_REFUSALS = 16
FREE_REFUSALS_PER_S = 0.2
MAX_TRACKED = 4096  # peers whose allowance is remembered (a full one is forgotten)
STALL_TIMEOUT = 10.0  # a provider silent this long is given up (Bitswap takes over)


class StreamReader:
    """Exact-length reads over a libp2p stream; NetworkError when it stalls or breaks."""

    def __init__(self, stream: INetStream) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.received = 0  # bytes read off the stream so far
        self.waiting = False  # blocked on the network right now

    async def _fill(self, n: int) -> None:
        while len(self.buf) < n:
            self.waiting = True
            try:
                with trio.move_on_after(STALL_TIMEOUT) as waiting:
                    try:
                        data = await self.stream.read(max(READ_SIZE, n - len(self.buf)))
                    except Exception as exc:  # noqa: BLE001 - resets, EOF, closed connections
                        raise NetworkError(f"stream broke: {exc!r}") from exc
            finally:
                self.waiting = False
            if waiting.cancelled_caught:
                raise NetworkError(f"provider sent nothing for {STALL_TIMEOUT:g}s")
            if not data:
                raise NetworkError("stream closed early")
            self.received += len(data)
            self.buf += data

    async def read_exact(self, n: int) -> bytes:
        await self._fill(n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_varint(self) -> int:
        result = 0
        for shift in range(0, 64, 7):
            byte = (await self.read_exact(1))[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise NetworkError("varint too long")

    async def read_frame(self, limit: int) -> bytes:
        n = await self.read_varint()
        if n > limit:
            raise NetworkError(f"frame of {n} bytes exceeds {limit}")
        return await self.read_exact(n)


def _dag_order(store: BlockStore, root: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(cid, block) of every block under ``root``, breadth first, links in order."""
    level = [root]
    while level:
        next_level: list[bytes] = []
        for cid in level:
            block = store.get(cid)
            if block is None:
                raise ContentError("block vanished while serving")
            yield cid, block
            if parse_cid(cid).codec == CODEC_DAG_PB:
                next_level.extend(link.cid for link in dagpb.decode_file_node(block).links)
        level = next_level


class WriteStalled(NetworkError):
    """A client left a chunk of ours unread (``WRITE_TIMEOUT``, or yamux's window wait)."""


class BlockStreamServer:
    """Serves complete blobs from ``store`` on ``/fedchain/blocks/1``.

    Limits, so that no peer can keep the others from being served: peers that
    ``is_registered`` rejects get no stream at all (they still have Bitswap); each peer
    gets at most ``PEER_STREAMS`` at once; the request must arrive whole within
    ``REQUEST_TIMEOUT`` and is read before a serving slot (``SERVE_LIMIT``) is taken;
    a client that leaves a chunk unread for ``WRITE_TIMEOUT`` loses the stream.
    Refusals and stalled writes are charged through ``charge(peer, "blockstream.<reason>")``
    (node/p2p/peer_score.py ``BLOCKSTREAM_PENALTIES`` says what each costs).
    """

    def __init__(
        self,
        host: IHost,
        store: BlockStore,
        metrics: Counter[str],
        is_registered: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.is_registered = is_registered
        self.charge: Callable[[ID, str], None] | None = None
        self._allowance: dict[ID, tuple[float, float]] = {}  # peer -> (free refusals, when)
        self.limit = trio.CapacityLimiter(SERVE_LIMIT)
        self.streams: Counter[ID] = Counter()  # open streams per peer
        host.set_stream_handler(PROTOCOL, self.handle)

    async def handle(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        refused = self._refusal(peer)
        if refused is not None:
            self.metrics[f"blockstream.refused.{refused}"] += 1
            log.debug("blockstream: refused a stream from %s: %s", peer, refused)
            if not self._free_refusal(peer):
                self._charge(peer, refused)
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        self.streams[peer] += 1
        try:
            await self._serve(stream)
        except WriteStalled as exc:
            self.metrics["blockstream.serve_failed"] += 1
            log.info("blockstream: %s: %s; stream reset", peer, exc)
            with contextlib.suppress(Exception):
                await stream.reset()
            self._charge(peer, "write_stall")
        except Exception as exc:  # noqa: BLE001 - peer resets, bad requests, timeouts
            self.metrics["blockstream.serve_failed"] += 1
            log.debug("blockstream: serving %s failed: %r", peer, exc)
            with contextlib.suppress(Exception):
                await stream.reset()
        else:
            with contextlib.suppress(Exception):
                await stream.close()
        finally:
            self.streams[peer] -= 1
            if self.streams[peer] <= 0:
                del self.streams[peer]

    def _free_refusal(self, peer: ID) -> bool:
        """Take one of ``peer``'s uncharged refusals (a token bucket ``FREE_REFUSALS``
        deep, refilled at ``FREE_REFUSALS_PER_S``); False once they are used up."""
        now = trio.current_time()
        tokens, at = self._allowance.get(peer, (float(FREE_REFUSALS), now))
        tokens = min(float(FREE_REFUSALS), tokens + (now - at) * FREE_REFUSALS_PER_S)
        if len(self._allowance) >= MAX_TRACKED:  # forget the peers whose allowance is full
            full = FREE_REFUSALS / FREE_REFUSALS_PER_S
            self._allowance = {p: v for p, v in self._allowance.items() if now - v[1] < full}
        self._allowance[peer] = (max(0.0, tokens - 1), now)
        return tokens >= 1

    def _charge(self, peer: ID, reason: str) -> None:
        if self.charge is not None:
            self.charge(peer, f"blockstream.{reason}")

    def _refusal(self, peer: ID) -> str | None:
        if self.is_registered is not None and not self.is_registered(peer.to_base58()):
            return "unregistered"
        if self.streams[peer] >= PEER_STREAMS:
            return "peer_streams"
        return None

    async def _serve(self, stream: INetStream) -> None:
        with trio.move_on_after(REQUEST_TIMEOUT) as waiting:
            root = await StreamReader(stream).read_frame(MAX_CID_LEN)
        if waiting.cancelled_caught:
            self.metrics["blockstream.request_timeout"] += 1
            raise NetworkError(f"no whole request within {REQUEST_TIMEOUT:g}s")
        parse_cid(root)
        async with self.limit:
            if not blobs.is_complete(self.store, root):
                await self._write(stream, bytes([STATUS_NOT_FOUND]))
                return
            out = bytearray([STATUS_OK])
            for cid, block in _dag_order(self.store, root):
                out += dagpb.encode_varint(len(cid)) + cid + dagpb.encode_varint(len(block))
                out += block
                self.metrics["blockstream.bytes_served"] += len(block)
                if len(out) >= READ_SIZE:
                    await self._write(stream, bytes(out))
                    out.clear()
            if out:
                await self._write(stream, bytes(out))
        self.metrics["blockstream.served"] += 1

    async def _write(self, stream: INetStream, data: bytes) -> None:
        stalled = False
        with trio.move_on_after(WRITE_TIMEOUT) as waiting:
            try:
                await stream.write(data)
            except Exception:  # noqa: BLE001 - NetStream turns yamux's into StreamReset
                if not window_stalled(stream):
                    raise  # the client reset the stream or left: not a stall
                stalled = True  # yamux's own window wait ran out first
        if stalled or waiting.cancelled_caught:
            self.metrics["blockstream.write_timeout"] += 1
            raise WriteStalled(f"client left our data unread for up to {WRITE_TIMEOUT:g}s")


class BlockStreamClient:
    """One fetch of one blob from one provider; a ``blobs.FetchBlocks`` callback."""

    def __init__(self, host: IHost, store: BlockStore, peer: ID) -> None:
        self.host = host
        self.store = store
        self.peer = peer
        self.reader: StreamReader | None = None
        self.answered_at = 0.0  # trio clock: when the provider said it holds the blob

    async def open(self, root: bytes) -> bool:
        """Ask for ``root``; False if the peer lacks it or does not speak the protocol."""
        stream: INetStream | None = None
        try:
            with trio.fail_after(OPEN_TIMEOUT):
                stream = await self.host.new_stream(self.peer, [PROTOCOL])
                await stream.write(dagpb.encode_varint(len(root)) + root)
                reader = StreamReader(stream)
                status = (await reader.read_exact(1))[0]
        except BaseException as exc:
            # A stream we stop reading is reset, never left open: the provider would
            # write into it until its window stalls, and charge us ``write_stall``.
            if stream is not None:
                with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await stream.reset()
            if not isinstance(exc, Exception):
                raise  # cancelled: the race is over
            log.debug("blockstream: %s cannot serve: %r", self.peer, exc)
            return False
        if status != STATUS_OK:
            await stream.close()
            return False
        self.reader = reader
        self.answered_at = trio.current_time()
        return True

    async def close(self, *, reset: bool = False) -> None:
        """Close the stream; ``reset`` abandons a fetch the provider is still sending."""
        if self.reader is None:
            return
        try:
            if not reset:
                await self.reader.stream.close()
                return
        except Exception:  # noqa: BLE001 - fall through to a reset
            pass
        with contextlib.suppress(Exception):
            await self.reader.stream.reset()

    async def fetch(self, cids: list[bytes]) -> dict[bytes, bytes]:
        """The next blocks of the stream, which must be exactly ``cids`` in order."""
        if self.reader is None:
            raise NetworkError("blockstream: fetch() before a successful open()")
        out: dict[bytes, bytes] = {}
        for want in cids:
            cid = await self.reader.read_frame(MAX_CID_LEN)
            if cid != want:
                raise NetworkError("provider sent blocks out of order")
            block = await self.reader.read_frame(MAX_BLOCK_SIZE)
            self.store.put(cid, block)  # verifies the hash; ContentError if it is wrong
            out[cid] = block
        return out
