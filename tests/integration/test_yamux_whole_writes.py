"""Concurrent writes on one yamux stream arrive whole, one after the other.

Two real py-libp2p hosts on loopback. py-libp2p 0.8.1 took a stream's lock once per
64 KiB frame, so a second writer's message landed between the frames of a longer one.
Pubsub writes to a peer's one stream from several tasks (a flood-published push and the
heartbeat's GRAFT): the receiver parsed the spliced frame, failed, and charged the
honest sender ``garbage_rpc``; three of those graylisted it for 60 s at start-up.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.net_stream import INetStream
from libp2p.pubsub.pb import rpc_pb2
from libp2p.utils.varint import read_varint_prefixed_bytes_limited

from node.p2p.yamux import WholeWriteStream
from node.store import dagpb
from tests.integration.test_p2p_network import link, nodes, run

pytestmark = pytest.mark.integration

SINK = TProtocol("/fedchain-test/frames/1")
BIG = 600 * 1024  # more than the 256 KiB window: its writer waits between frames
SMALL = 20


def framed(payload: bytes) -> bytes:
    return dagpb.encode_varint(len(payload)) + payload


def test_a_long_write_is_not_split_by_a_concurrent_one(tmp_path: Path) -> None:
    rng = random.Random(7)
    big = rng.randbytes(BIG)
    smalls = [rng.randbytes(300) for _ in range(SMALL)]

    async def scenario() -> None:
        got: list[bytes] = []
        go, done = trio.Event(), trio.Event()

        async def sink(stream: INetStream) -> None:
            await go.wait()  # the big write fills the window and waits for more
            while len(got) < SMALL + 1:
                got.append(await read_varint_prefixed_bytes_limited(stream, 1 << 20))
            done.set()

        async with nodes(tmp_path, 2) as (a, b):
            a.host.set_stream_handler(SINK, sink)
            await link(b, a)
            stream = await b.host.new_stream(a.host.get_id(), [SINK])
            assert isinstance(stream.muxed_stream, WholeWriteStream)
            muxed = stream.muxed_stream
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream.write, framed(big))
                while muxed.send_window > 0:  # type: ignore[attr-defined]
                    await trio.sleep(0.01)
                for small in smalls:  # while the big one is between its frames
                    nursery.start_soon(stream.write, framed(small))
                await trio.sleep(0.1)
                go.set()
            with trio.fail_after(10):  # a spliced frame leaves the reader waiting for bytes
                await done.wait()
        assert big in got  # whole: no small message inside it
        assert sorted(got) == sorted([big, *smalls])

    run(scenario)


def test_concurrent_pubsub_rpcs_cost_the_honest_sender_nothing(tmp_path: Path) -> None:
    """The start-up race itself: a long RPC and short ones written at once to the peer's
    pubsub stream are all read whole; none is taken for garbage."""

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (m, r):
            await link(m, r)
            pubsub = m._gossip.pubsub
            with trio.fail_after(10):
                while r.peer_id not in {str(p) for p in pubsub.peers}:
                    await trio.sleep(0.05)
            stream = pubsub.peers[r.host.get_id()]
            long = rpc_pb2.RPC(publish=[rpc_pb2.Message(data=b"x" * BIG, topicIDs=["none"])])
            shorts = [
                rpc_pb2.RPC(subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=True, topicid=f"t{i}")])
                for i in range(SMALL)
            ]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pubsub.write_msg, stream, long)
                for rpc in shorts:
                    nursery.start_soon(pubsub.write_msg, stream, rpc)
            topics = {f"t{i}" for i in range(SMALL)}
            with trio.fail_after(10):
                while not topics <= set(r._gossip.pubsub.peer_topics):
                    await trio.sleep(0.05)
            assert r.metrics["gossip.transport.garbage_rpc"] == 0
            assert r.peer_scores().get(m.peer_id, 0.0) == 0.0

    run(scenario)
