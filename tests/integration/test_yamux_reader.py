"""The yamux read loop keeps reading while its connection's write lock is taken.

Two real py-libp2p hosts on loopback. Holding A's connection write lock stands in
for a stream writer blocked on a full TCP send buffer (what two nodes fetching each
other's blobs produce). With py-libp2p's own Yamux, A's read loop then blocks
answering B's ping and never delivers the data that follows; that is the deadlock
that hung ``test_four_hosts_fetch_each_others_blobs_concurrently`` one run in four.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.net_stream import INetStream
from libp2p.stream_muxer.yamux.yamux import FLAG_SYN, TYPE_PING, YAMUX_HEADER_FORMAT

from node.p2p.network import PeerNetwork, open_network
from node.p2p.yamux import ReaderSafeYamux

pytestmark = pytest.mark.integration

ECHO = TProtocol("/fedchain-test/sink/1")
GUARD = 10  # seconds; only stops a hung test


def muxer_towards(net: PeerNetwork, other: PeerNetwork) -> ReaderSafeYamux:
    conns = net.host.get_network().get_connections(other.host.get_id())
    muxer = conns[0].muxed_conn
    assert isinstance(muxer, ReaderSafeYamux)
    return muxer


def test_read_loop_delivers_data_while_the_write_lock_is_held(tmp_path: Path) -> None:
    async def scenario() -> None:
        received: trio.MemorySendChannel[bytes]
        received, inbox = trio.open_memory_channel[bytes](10)

        done = trio.Event()

        async def sink(stream: INetStream) -> None:
            # reads one message, then leaves the rest in the muxer's buffer (a read
            # also writes a window update, which the held lock would block)
            await received.send(await stream.read(1024))
            await done.wait()
            await received.send(await stream.read(1024))

        async with (
            open_network(data_dir=tmp_path / "a") as a,
            open_network(data_dir=tmp_path / "b") as b,
        ):
            a.host.set_stream_handler(ECHO, sink)
            assert await b.connect(a.peer_id, a.listen_addrs())
            stream = await b.host.new_stream(a.host.get_id(), [ECHO])
            await stream.write(b"before")
            with trio.fail_after(GUARD):
                assert await inbox.receive() == b"before"

            a_muxer, b_muxer = muxer_towards(a, b), muxer_towards(b, a)
            sid = stream.muxed_stream.stream_id  # type: ignore[attr-defined]
            async with a_muxer._write_lock:  # A's writer is "stuck"
                ping = struct.pack(YAMUX_HEADER_FORMAT, 0, TYPE_PING, FLAG_SYN, 0, 777)
                await b_muxer._write_frame(ping)
                await stream.write(b"after the ping")
                with trio.fail_after(GUARD):
                    while bytes(a_muxer.stream_buffers[sid]) != b"after the ping":
                        await trio.sleep(0.05)
            # with the lock free again, the queued reply goes out and the link still works
            done.set()
            with trio.fail_after(GUARD):
                assert await inbox.receive() == b"after the ping"

    trio.run(scenario)
