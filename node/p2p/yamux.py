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

import trio
from libp2p.stream_muxer import muxer_multistream
from libp2p.stream_muxer.yamux.yamux import Yamux

log = logging.getLogger(__name__)

_Frame = tuple[bytes, trio.Event | None]


class ReaderSafeYamux(Yamux):
    """Yamux whose frames all leave through one writer task, in the order queued."""

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
                try:
                    await super()._write_frame(data)
                except Exception as exc:  # noqa: BLE001 - handed to the frame's writer
                    log.debug("yamux: send to %s failed: %r", self.peer_id, exc)
                    self._send_error = exc
                    self._fail(sent)
                    self._fail_pending(frames)
                    return
                if sent is not None:
                    sent.set()

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


def install() -> None:
    """Make every yamux connection of this process a ``ReaderSafeYamux``.

    ``muxer_opt`` cannot do it: py-libp2p 0.8.1's ``MuxerMultistream.new_conn``
    constructs ``Yamux`` by name whenever yamux is negotiated, ignoring the class it
    was given, so the name it looks up is replaced instead.
    """
    muxer_multistream.Yamux = ReaderSafeYamux  # type: ignore[misc]
