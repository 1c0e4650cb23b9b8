"""py-libp2p's yamux with one ordered send loop, so its read loop never waits to write.

py-libp2p 0.8.1 answers some frames from inside its read loop: a PING gets its ACK and
a new stream its ACK (or RST), each written under the connection's write lock. When
both peers send bulk data to each other (two nodes fetching each other's blobs), a
stream writer can hold that lock while blocked on a full TCP send buffer; if the peer's
read loop is at the same moment waiting for *its* lock to answer a ping, neither side
reads its socket again and the connection deadlocks for good.

go-yamux avoids this with a single send loop, and so does ``ReaderSafeYamux``: every
frame goes through one queue to one writer task, in order. Stream writers still wait
until their frame is on the wire (back-pressure is unchanged); the read loop only
enqueues and goes straight back to reading. Order matters: a new stream's ACK must
leave before the first data its handler writes (the opener drops data that precedes
it), which a side channel for the read loop's replies alone did not guarantee.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections import Counter

import trio
from libp2p.stream_muxer import muxer_multistream
from libp2p.stream_muxer.yamux import yamux as yamux_module
from libp2p.stream_muxer.yamux.yamux import (
    FLAG_SYN,
    HEADER_SIZE,
    TYPE_DATA,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
    YAMUX_HEADER_FORMAT,
    Yamux,
    YamuxStream,
)

log = logging.getLogger(__name__)

_Frame = tuple[bytes, trio.Event | None]
# bytes one write gathers at most: a Noise transport message holds 65535 bytes with its
# 16-byte tag (a bigger write is split into several, as py-libp2p does). The variable is
# for same-machine before/after measurements only: 1 writes every frame on its own.
COALESCE_BYTES = int(os.environ.get("FEDCHAIN_YAMUX_COALESCE_BYTES", str(65535 - 16)))


class WholeWriteStream(YamuxStream):
    """A yamux stream on which one ``write`` at a time goes out, whole (go-yamux's
    ``Stream.Write`` holds its write lock for the whole call).

    py-libp2p 0.8.1 takes the stream's lock once per frame: a write of more than one frame
    (over 64 KiB, or over the send window) let a second writer's data in between its
    frames. Pubsub writes to a peer's one stream from several tasks (a flood-published
    push of 175 KiB, and the heartbeat's GRAFT): the receiver read a 290-byte GRAFT RPC
    inside the push's frame, failed to parse it and charged the honest sender
    ``garbage_rpc``, three times in 15 ms at start-up, graylisting it (docs/p2p.md).
    """

    def __init__(self, stream_id: int, conn: Yamux, is_initiator: bool) -> None:
        super().__init__(stream_id, conn, is_initiator)
        self._whole_write = trio.Lock()

    async def write(self, data: bytes) -> None:
        async with self._whole_write:
            await super().write(data)


class HalfWindowStream(WholeWriteStream):
    """A yamux stream that grants its peer more window once half of it was read (go-yamux's
    hysteresis), not after every read.

    py-libp2p 0.8.1 sends a WINDOW_UPDATE after each ``read`` that consumed anything, and
    a length-prefixed message takes two or three reads (a varint read byte by byte, then
    the body): at 16 nodes 70 % of all frames sent were window updates (28,883 of 41,316),
    each a Noise message, a send and a wake-up of the peer's read loop. The sender may
    still send a whole window before it waits, and hears of more when half is consumed.
    """

    async def _auto_tune_and_send_window_update(self, *, bytes_read: int = 0) -> None:
        async with self.window_lock:
            buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
            consumed = self.target_recv_window - (self.recv_window + buffered)
            if consumed <= 0 or consumed < self._grow_threshold():
                return
            increment = self._grow_to_delta(buffered) + self._apply_autotune_epoch(buffered)
            self._pending_recv_release = 0
        if increment > 0:  # never while holding window_lock (py-libp2p's rule)
            await self.send_window_update(increment, skip_lock=True)


class ReaderSafeYamux(Yamux):
    """Yamux whose frames all leave through one writer task, in the order queued; frames
    queued while a write is under way leave together in the next one (one Noise message
    and one send instead of one each)."""

    # the host's p2p counters (``install``); one host per process outside tests
    metrics: Counter[str] = Counter()

    _reader: trio.lowlevel.Task | None = None
    _frames: trio.MemorySendChannel[_Frame] | None = None
    _send_error: BaseException | None = None
    _failed_frames: set[trio.Event] | None = None

    async def handle_incoming(self) -> None:
        if self._nursery is None:  # not started through Yamux.start(): write inline
            await super().handle_incoming()
            return
        send, receive = trio.open_memory_channel[_Frame](math.inf)
        self._frames, self._failed_frames = send, set()
        self._reader = trio.lowlevel.current_task()
        self._nursery.start_soon(self._send_loop, receive)
        try:
            await super().handle_incoming()
        finally:
            self._reader = None
            send.close()

    async def _write_frame(self, data: bytes) -> None:
        if self._frames is None:
            await super()._write_frame(data)
            return
        if self._send_error is not None:
            raise self._send_error
        if trio.lowlevel.current_task() is self._reader:
            self._queue(data, None)  # never block the read loop
            return
        sent = trio.Event()
        self._queue(data, sent)
        await sent.wait()
        if self._failed_frames is not None and sent in self._failed_frames:
            self._failed_frames.discard(sent)
            raise self._send_error or ConnectionError("yamux send loop stopped")

    def _queue(self, data: bytes, sent: trio.Event | None) -> None:
        if self._frames is None:  # pragma: no cover - guarded by the caller
            raise ConnectionError("yamux send loop not running")
        try:
            self._frames.send_nowait((data, sent))
        except (trio.ClosedResourceError, trio.BrokenResourceError) as exc:
            raise self._send_error or ConnectionError("yamux connection closed") from exc

    async def _send_loop(self, frames: trio.MemoryReceiveChannel[_Frame]) -> None:
        async with frames:
            async for data, sent in frames:
                batch, waiting = [data], [sent]
                size = len(data)
                while size < COALESCE_BYTES:  # frames queued meanwhile leave together
                    try:
                        data, sent = frames.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch.append(data)
                    waiting.append(sent)
                    size += len(data)
                try:
                    # not Yamux._write_frame: it formats a debug line per frame, logged or not
                    async with self._write_lock:
                        await self.secured_conn.write(b"".join(batch))
                except Exception as exc:  # noqa: BLE001 - handed to the frames' writers
                    log.debug("yamux: send to %s failed: %r", self.peer_id, exc)
                    self._send_error = exc
                    for event in waiting:
                        self._fail(event)
                    self._fail_pending(frames)
                    return
                self.metrics["yamux.frames_out"] += len(batch)
                self.metrics["yamux.writes_out"] += 1
                for frame in batch:
                    self.metrics[_kind(frame)] += 1
                for event in waiting:
                    if event is not None:
                        event.set()

    def _fail(self, sent: trio.Event | None) -> None:
        if sent is not None and self._failed_frames is not None:
            self._failed_frames.add(sent)
            sent.set()

    def _fail_pending(self, frames: trio.MemoryReceiveChannel[_Frame]) -> None:
        while True:
            try:
                _, sent = frames.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            self._fail(sent)


_KINDS = {TYPE_DATA: "data", TYPE_WINDOW_UPDATE: "window_update", TYPE_PING: "ping"}


def _kind(frame: bytes) -> str:
    """``yamux.out.<type>`` of a frame; ``.syn`` for one opening a stream (what the
    frames are spent on: many short streams, window updates, or data)."""
    if len(frame) < HEADER_SIZE:
        return "yamux.out.short"
    _, typ, flags, _, _ = struct.unpack(YAMUX_HEADER_FORMAT, frame[:HEADER_SIZE])
    if flags & FLAG_SYN:
        return "yamux.out.syn"
    return f"yamux.out.{_KINDS.get(typ, 'other')}"


def install(metrics: Counter[str] | None = None) -> None:
    """Make every yamux connection of this process a ``ReaderSafeYamux`` whose streams
    are ``HalfWindowStream``s (``WholeWriteStream``s for stock-window measurements).

    ``muxer_opt`` cannot do it: py-libp2p 0.8.1's ``MuxerMultistream.new_conn``
    constructs ``Yamux`` by name whenever yamux is negotiated, ignoring the class it
    was given, so the name it looks up is replaced instead (and so for its streams).
    """
    muxer_multistream.Yamux = ReaderSafeYamux  # type: ignore[misc]
    stock_window = os.environ.get("FEDCHAIN_YAMUX_STOCK_WINDOW") == "1"  # before/after only
    stream = WholeWriteStream if stock_window else HalfWindowStream
    yamux_module.YamuxStream = stream  # type: ignore[misc]
    if metrics is not None:
        ReaderSafeYamux.metrics = metrics
