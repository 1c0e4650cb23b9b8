"""py-libp2p's yamux with a read loop that never waits for the connection's write lock.

py-libp2p 0.8.1 answers some frames from inside its read loop: a PING gets its ACK
and a new stream its ACK (or RST), each written under the connection's write lock.
When both peers send bulk data to each other (two nodes fetching each other's
blobs), a stream writer can hold that lock while blocked on a full TCP send buffer;
if the peer's read loop is at the same moment waiting for *its* write lock to answer
a ping, neither side reads its socket again and the connection deadlocks for good.
go-yamux avoids this with a separate send loop; here the read loop hands its frames
to one writer task per connection (in order) and goes straight back to reading.
"""

from __future__ import annotations

import logging
import math

import trio
from libp2p.stream_muxer import muxer_multistream
from libp2p.stream_muxer.yamux.yamux import Yamux

log = logging.getLogger(__name__)


class ReaderSafeYamux(Yamux):
    """Yamux whose read loop queues its replies instead of writing them itself."""

    _reader: trio.lowlevel.Task | None = None
    _replies: trio.MemorySendChannel[bytes] | None = None

    async def handle_incoming(self) -> None:
        if self._nursery is None:  # not started through Yamux.start(): write inline
            await super().handle_incoming()
            return
        send, receive = trio.open_memory_channel[bytes](math.inf)
        self._replies = send
        self._reader = trio.lowlevel.current_task()
        self._nursery.start_soon(self._write_replies, receive)
        try:
            await super().handle_incoming()
        finally:
            self._reader = None
            send.close()

    async def _write_frame(self, data: bytes) -> None:
        if self._replies is not None and trio.lowlevel.current_task() is self._reader:
            self._replies.send_nowait(data)
            return
        await super()._write_frame(data)

    async def _write_replies(self, replies: trio.MemoryReceiveChannel[bytes]) -> None:
        async with replies:
            async for frame in replies:
                try:
                    await super()._write_frame(frame)
                except Exception as exc:  # noqa: BLE001 - the read loop sees the close too
                    log.debug("yamux: reply to %s not sent: %s", self.peer_id, exc)
                    return


def install() -> None:
    """Make every yamux connection of this process a ``ReaderSafeYamux``.

    ``muxer_opt`` cannot do it: py-libp2p 0.8.1's ``MuxerMultistream.new_conn``
    constructs ``Yamux`` by name whenever yamux is negotiated, ignoring the class it
    was given, so the name it looks up is replaced instead.
    """
    muxer_multistream.Yamux = ReaderSafeYamux  # type: ignore[misc]
