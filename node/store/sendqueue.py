"""Bitswap's per-peer send queue, bounded against a peer that asks and never reads.

py-libp2p 0.8.1's ``BitswapMessageQueue`` takes everything queued for a peer and writes it
on one outbound stream. A peer that asks for blocks and never reads them stalls that write
on the yamux send window (256 KiB): yamux gave up after 5 s without window, the queue
*closed* the stream (half-closed, it stayed in the connection's stream table while the
peer kept its side open) and dropped the blocks it had taken, and the next want-list
filled the queue again. Measured on loopback (tests/integration/test_bitswap_nonreader.py,
one want-list of a 4 MiB blob every 0.2 s, 25 s): 24 MiB queued for a peer that read
1.25 MiB, up to 4 MiB queued plus up to 4 MiB taken by the stalled send, 5 stalled answer
streams left open, nothing charged.

Here the bytes taken by a send under way count toward the peer's queue cap
(``queued_bytes``), and a message the peer does not read within ``SEND_TIMEOUT`` (or
yamux's 5 s window wait, whichever ends first) is a stall: the stream is reset (dropped
from the connection at once), the blocks still queued for the peer are dropped (it gets
them when it asks again) and ``on_stall(peer)`` charges it. A stream the peer closed
(its reader is gone: py-libp2p peers close an inbound Bitswap stream idle for 60 s) or
that we left idle for ``REUSE_IDLE`` is replaced by a new one before we write, so an
honest peer's reader is always there for what we send.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.bitswap.message_queue import BitswapMessageQueue
from libp2p.peer.id import ID

from node.errors import NetworkError

log = logging.getLogger(__name__)

# seconds one Bitswap message (at most ~64 KiB of blocks) may take to leave for a peer.
# An honest peer reads its Bitswap streams continuously (each block is hashed and stored,
# ~1 ms a 256 KiB block); one that leaves us 10 s on one message is stalled or hostile.
SEND_TIMEOUT = 10.0
# seconds after our last write on a stream that we open a new one rather than write on it:
# a py-libp2p peer closes an inbound Bitswap stream idle for 60 s and reads it no more, so
# what we then wrote there was lost, and a stall on it would have charged an honest peer
REUSE_IDLE = 45.0


class SendStalled(NetworkError):
    """The peer read nothing of a message within ``SEND_TIMEOUT``."""


class BoundedSendQueue(BitswapMessageQueue):
    def __init__(self, *args: Any, on_stall: Callable[[ID], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_stall = on_stall
        self.in_flight = 0  # block bytes taken by the flush under way
        self._written_at = 0.0  # trio clock: our last write on ``_stream``

    def pending_bytes(self) -> int:
        return sum(len(b) for b in self._pending_blocks_v100) + sum(
            len(b) for _, b in self._pending_blocks_v110
        )

    def queued_bytes(self) -> int:
        """Block bytes we hold for the peer: queued, and taken by the send under way."""
        return self.pending_bytes() + self.in_flight

    def drop_blocks(self) -> int:
        dropped = self.pending_bytes()
        self._pending_blocks_v100.clear()
        self._pending_blocks_v110.clear()
        return dropped

    async def _flush_messages(
        self,
        entries: list[Any],
        presences: list[Any],
        blocks_v100: list[bytes],
        blocks_v110: list[tuple[bytes, bytes]],
        full_wantlist: bool,
    ) -> None:
        # what flush() took off the queue, counted from here (no checkpoint between the
        # two: counted earlier, a sampler saw the same blocks twice)
        self.in_flight = sum(len(b) for b in blocks_v100) + sum(len(b) for _, b in blocks_v110)
        try:
            await super()._flush_messages(
                entries, presences, blocks_v100, blocks_v110, full_wantlist
            )
        finally:
            self.in_flight = 0

    async def _get_or_open_stream(self) -> INetStream | None:
        stream = self._stream
        if stream is not None and (
            _remote_closed(stream) or trio.current_time() - self._written_at > REUSE_IDLE
        ):
            self._stream = None
            with contextlib.suppress(Exception):
                await stream.reset()
        opened = await super()._get_or_open_stream()
        if opened is not stream:
            self._written_at = trio.current_time()
        return opened

    async def _write_protobuf_message(self, stream: INetStream, msg: Any) -> None:
        if _remote_closed(stream):  # its reader is gone: nobody would read this
            raise NetworkError(f"{self.peer_id} closed its side of our Bitswap stream")
        stalled = False
        with trio.move_on_after(SEND_TIMEOUT) as waiting:
            try:
                await super()._write_protobuf_message(stream, msg)
            except Exception:  # noqa: BLE001 - NetStream turns yamux's into StreamReset
                if not window_stalled(stream):
                    raise  # reset or closed by the peer: not a stall
                stalled = True
        if not (stalled or waiting.cancelled_caught):
            self._written_at = trio.current_time()
            return
        dropped = self.drop_blocks()
        with contextlib.suppress(Exception):
            await stream.reset()
        log.info(
            "bitswap: %s read nothing of a message for up to %gs; stream reset, %d queued "
            "block bytes dropped",
            self.peer_id,
            SEND_TIMEOUT,
            dropped,
        )
        self.on_stall(self.peer_id)
        raise SendStalled(f"{self.peer_id} stalled a Bitswap send")


def _remote_closed(stream: INetStream) -> bool:
    return bool(getattr(getattr(stream, "muxed_stream", None), "recv_closed", False))


def window_stalled(stream: INetStream) -> bool:
    """The write failed waiting for window (py-libp2p's yamux gives up after 5 s, and
    ``NetStream`` reports it as ``StreamReset``) on a yamux stream still open: the peer
    did not read, as opposed to resetting or leaving."""
    muxed = getattr(stream, "muxed_stream", None)
    return (
        muxed is not None
        and getattr(muxed, "send_window", 1) <= 0
        and not getattr(muxed, "closed", True)
    )
