"""ReaderSafeYamux's send loop: frames queued while a write is under way leave together,
in order, and every writer hears of a failed write (the real-host behaviour is in
tests/integration/test_yamux_reader.py)."""

from __future__ import annotations

from collections import Counter

import pytest
import trio
import trio.testing

from node.p2p.yamux import COALESCE_BYTES, ReaderSafeYamux


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
