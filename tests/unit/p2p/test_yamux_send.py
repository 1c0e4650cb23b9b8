"""ReaderSafeYamux's send loop: frames queued while a write is under way leave together,
in order, and every writer hears of a failed write; HalfWindowStream grants window in
halves, not per read (the real-host behaviour is in
tests/integration/test_yamux_reader.py)."""

from __future__ import annotations

import struct
from collections import Counter

import pytest
import trio
import trio.testing
from libp2p.stream_muxer.yamux.yamux import TYPE_WINDOW_UPDATE, YAMUX_HEADER_FORMAT

from node.p2p.yamux import COALESCE_BYTES, HalfWindowStream, ReaderSafeYamux


class FakeConn:
    def __init__(self, fail: bool = False) -> None:
        self.writes: list[bytes] = []
        self.fail = fail
        self.release = trio.Event()

    async def write(self, data: bytes) -> None:
        await self.release.wait()  # a write in progress while more frames queue
        if self.fail:
            raise ConnectionResetError("peer went away")
        self.writes.append(data)


def muxer(conn: FakeConn) -> ReaderSafeYamux:
    mux = ReaderSafeYamux.__new__(ReaderSafeYamux)  # no connection: the loop alone
    mux.secured_conn = conn  # type: ignore[assignment]
    mux._write_lock = trio.Lock()
    mux.peer_id = "peer"  # type: ignore[assignment]
    mux.metrics = Counter()
    send, receive = trio.open_memory_channel[tuple[bytes, trio.Event | None]](100)
    mux._frames, mux._failed_frames = send, set()
    mux._receive = receive  # type: ignore[attr-defined]
    return mux


def test_frames_queued_during_a_write_leave_together_in_order() -> None:
    async def main() -> None:
        conn = FakeConn()
        mux = muxer(conn)
        events = [trio.Event() for _ in range(4)]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mux._send_loop, mux._receive)  # type: ignore[attr-defined]
            mux._queue(b"a1", events[0])
            await trio.testing.wait_all_tasks_blocked()  # the first write is under way
            for i, event in enumerate(events[1:], 2):
                mux._queue(f"a{i}".encode(), event)
            mux._queue(b"reply", None)  # a read-loop reply: nobody waits on it
            conn.release.set()
            for event in events:
                await event.wait()
            assert mux._frames is not None
            mux._frames.close()
        assert conn.writes == [b"a1", b"a2a3a4reply"]
        assert mux.metrics["yamux.frames_out"] == 5 and mux.metrics["yamux.writes_out"] == 2
        assert mux.metrics["yamux.out.short"] == 5  # no yamux header: test frames

    trio.run(main)


def test_a_write_gathers_about_one_noise_message_at_most() -> None:
    async def main() -> None:
        conn = FakeConn()
        conn.release.set()
        mux = muxer(conn)
        frame = b"x" * (COALESCE_BYTES // 3 + 1)
        for _ in range(5):
            mux._queue(frame, None)
        assert mux._frames is not None
        mux._frames.close()
        await mux._send_loop(mux._receive)  # type: ignore[attr-defined]
        assert [len(w) // len(frame) for w in conn.writes] == [3, 2]

    trio.run(main)


def test_a_failed_write_fails_every_frame_in_it_and_those_still_queued() -> None:
    async def main() -> None:
        conn = FakeConn(fail=True)
        mux = muxer(conn)
        events = [trio.Event() for _ in range(3)]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mux._send_loop, mux._receive)  # type: ignore[attr-defined]
            mux._queue(b"a", events[0])
            await trio.testing.wait_all_tasks_blocked()
            mux._queue(b"b", events[1])
            mux._queue(b"c", events[2])
            conn.release.set()
        assert all(e.is_set() for e in events)
        assert mux._failed_frames == set(events)
        assert isinstance(mux._send_error, ConnectionResetError)
        with pytest.raises(ConnectionResetError):
            await mux._write_frame(b"d")  # later writers get the error at once

    trio.run(main)


class FakeMux:
    def __init__(self) -> None:
        self.stream_buffers: dict[int, bytearray] = {7: bytearray()}
        self.frames: list[bytes] = []

    async def _write_frame(self, data: bytes) -> None:
        self.frames.append(data)

    def rtt(self) -> float:
        return 0.001


def test_a_stream_grants_window_once_half_of_it_was_read() -> None:
    async def main() -> None:
        mux = FakeMux()
        stream = HalfWindowStream(7, mux, True)  # type: ignore[arg-type]
        window = stream.target_recv_window
        for _ in range(10):  # the peer sent 10 small messages, read one by one
            stream.recv_window -= 1000
            await stream._auto_tune_and_send_window_update(bytes_read=1000)
        assert mux.frames == []  # 10 kB of a 256 KiB window: nothing to grant yet
        stream.recv_window -= window // 2
        await stream._auto_tune_and_send_window_update(bytes_read=window // 2)
        (frame,) = mux.frames
        _, typ, _, sid, increment = struct.unpack(YAMUX_HEADER_FORMAT, frame)
        assert (typ, sid) == (TYPE_WINDOW_UPDATE, 7)
        assert increment >= window // 2 + 10_000  # all that was read, in one update
        assert stream.recv_window >= window  # the peer may send a whole window again

    trio.run(main)


def test_unread_bytes_are_not_granted_again() -> None:
    async def main() -> None:
        mux = FakeMux()
        stream = HalfWindowStream(7, mux, True)  # type: ignore[arg-type]
        window = stream.target_recv_window
        stream.recv_window -= window  # the peer filled the window; nothing read yet
        mux.stream_buffers[7] = bytearray(window)
        await stream._auto_tune_and_send_window_update()
        assert mux.frames == []

    trio.run(main)
