"""Resource limits under abuse, with real py-libp2p hosts on loopback, the real
``/fedchain/blocks/1`` server and real Bitswap. Attackers speak the wire protocols
through raw streams; assertions are on counters, never on wall time.
"""

from __future__ import annotations

import contextlib
import logging
import random
from pathlib import Path

import pytest
import trio
from libp2p.bitswap.config import BITSWAP_PROTOCOL_V120
from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.custom_types import TProtocol
from libp2p.network.stream.net_stream import INetStream
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V12

from node.p2p import gossip
from node.p2p.network import PeerNetwork, open_network
from node.p2p.peer_score import BITSWAP_PENALTIES, GRAYLIST_SCORE
from node.store import bitswap, blockstream, dagpb
from node.store.blockstream import PROTOCOL
from node.store.cid import make_cid, parse_cid_str
from tests.integration.test_p2p_network import link, nodes, run

pytestmark = pytest.mark.integration

FLOOD = 60  # idle fast-path streams the unregistered peer opens


async def wait_for(net: PeerNetwork, counter: str, at_least: int = 1) -> None:
    with trio.fail_after(30):
        while net.metrics[counter] < at_least:
            await trio.sleep(0.05)


async def open_idle(attacker: PeerNetwork, target: PeerNetwork, count: int) -> list[INetStream]:
    streams = []
    for _ in range(count):
        with contextlib.suppress(Exception):  # a refused stream may fail to negotiate
            streams.append(await attacker.host.new_stream(target.host.get_id(), [PROTOCOL]))
    return streams


def test_an_unregistered_flood_gets_no_slot_and_honest_fetches_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U (unregistered) opens 60 idle fast-path streams to the provider P; R (registered,
    hostile) opens 10 and sends half a request on each. U gets no stream at all, R at
    most PEER_STREAMS at once, each cut at the request deadline; the honest F still
    fetches over the fast path."""
    monkeypatch.setattr(blockstream, "REQUEST_TIMEOUT", 1.0)
    data = random.Random(5).randbytes(600_000)

    async def scenario() -> None:
        async with nodes(tmp_path, 3) as (u, r, f):
            registered = {r.peer_id, f.peer_id}
            async with open_network(
                data_dir=tmp_path / "p", is_registered=registered.__contains__
            ) as p:
                cid = await p.add_blob(data)
                for peer in (u, r, f):
                    await link(peer, p)
                await open_idle(u, p, FLOOD)
                held = await open_idle(r, p, 10)
                for stream in held:
                    with contextlib.suppress(Exception):  # refused ones are reset
                        await stream.write(b"\x24\x01")  # 36-byte CID announced, 1 sent
                await wait_for(p, "blockstream.refused.unregistered", FLOOD)
                await wait_for(p, "blockstream.refused.peer_streams", 10 - blockstream.PEER_STREAMS)
                await wait_for(p, "blockstream.request_timeout", blockstream.PEER_STREAMS)
                assert await f.fetch_blob(cid, [p.peer_id], timeout=30) == data
                assert f.metrics["fetch.won.blockstream"] == 1
                assert p.metrics["blockstream.served"] == 1
                assert p.metrics["blockstream.refused.unregistered"] == FLOOD
                assert (
                    p.metrics["blockstream.refused.peer_streams"] == 10 - blockstream.PEER_STREAMS
                )

    run(scenario)


def want_message(cids: list[bytes], want_type: int) -> bytes:
    msg = Message()
    for cid in cids:
        msg.wantlist.entries.add(block=cid, priority=1, wantType=want_type, sendDontHave=False)
    body = msg.SerializeToString()
    return dagpb.encode_varint(len(body)) + body


def test_a_want_block_burst_queues_one_copy_within_the_cap(tmp_path: Path) -> None:
    """One Bitswap message with 800 want-block entries for the same 256 KiB block used to
    queue 800 copies (~200 MB); then 20 000 random want-haves, which py-libp2p kept
    forever. Now: one copy queued (``bitswap.bytes_served`` = one block), block bytes
    queued for the peer never above ``MAX_PEER_QUEUED_BYTES``, wants capped."""
    block = random.Random(6).randbytes(256 * 1024)
    rng = random.Random(7)

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (m, p):
            cid = await p.add_blob(block)  # one chunk: the blob is a single raw block
            root = parse_cid_str(cid)
            await link(m, p)
            stream = await m.host.new_stream(p.host.get_id(), [BITSWAP_PROTOCOL_V120])
            burst = want_message([root] * 800, want_type=0)
            assert len(burst) < 40_000
            await stream.write(burst)
            await wait_for(p, "bitswap.rejected.duplicate_want", 799)
            await wait_for(p, "bitswap.bytes_served", len(block))
            assert p.metrics["bitswap.bytes_served"] == len(block)
            assert 0 < p.metrics["bitswap.peak_queued_bytes"] <= bitswap.MAX_PEER_QUEUED_BYTES

            randoms = [make_cid(0x55, rng.randbytes(32)) for _ in range(20_000)]
            for start in range(0, len(randoms), 5_000):
                await stream.write(want_message(randoms[start : start + 5_000], want_type=1))
            extra = 4 * (5_000 - bitswap.MAX_MESSAGE_WANTS)
            await wait_for(p, "bitswap.rejected.message_wants", extra)
            wants = p._exchange.client._peer_wantlists[m.host.get_id()]
            assert len(wants) <= bitswap.MAX_PEER_WANTS
            assert p.metrics["bitswap.bytes_served"] == len(block)

    run(scenario)


def test_a_half_sent_bitswap_frame_loses_its_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame that announces 1000 bytes and sends 10 held the stream (and its reader)
    until the peer went away; now it is dropped at FRAME_TIMEOUT."""
    monkeypatch.setattr(bitswap, "FRAME_TIMEOUT", 1.0)

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (m, p):
            await link(m, p)
            stream = await m.host.new_stream(p.host.get_id(), [BITSWAP_PROTOCOL_V120])
            await stream.write(dagpb.encode_varint(1000) + b"\0" * 10)
            await wait_for(p, "bitswap.rejected.half_frame")

    run(scenario)


def test_the_auto_connector_makes_no_dials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """py-libp2p's auto-connector logged "initiating 150 new dials" at start and every
    30 s although min_connections and low_watermark were 0."""
    caplog.set_level(logging.INFO, logger="libp2p.network.auto_connector")

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (a, b):
            await link(a, b)
            await trio.sleep(1.0)

    run(scenario)
    assert not [r for r in caplog.records if "new dials" in r.getMessage()]


def test_stream_floods_are_capped_per_peer(tmp_path: Path) -> None:
    """20 idle Bitswap streams from M and 10 idle pubsub streams from G: each protocol
    keeps at most its per-peer share open, the rest are reset, counted and charged. Ten
    excess Bitswap streams cost M the whole score (``BITSWAP_PENALTIES``): M is cut off;
    G's eight excess pubsub streams leave it connected with a lower score. The target
    still serves an honest peer."""
    data = random.Random(8).randbytes(300_000)
    cut_at = int(-GRAYLIST_SCORE / BITSWAP_PENALTIES["peer_streams"])

    async def scenario() -> None:
        async with nodes(tmp_path, 4) as (m, g, p, f):
            await p.subscribe("t")
            cid = await p.add_blob(data)
            for peer in (m, g, f):
                await link(peer, p)
            for _ in range(20):
                with contextlib.suppress(Exception):  # refused ones, then no connection
                    await m.host.new_stream(p.host.get_id(), [BITSWAP_PROTOCOL_V120])
            for _ in range(10):
                with contextlib.suppress(Exception):
                    await g.host.new_stream(p.host.get_id(), [TProtocol(PROTOCOL_ID_V12)])
            await wait_for(p, "p2p.disconnected.graylisted")
            assert p.metrics["bitswap.rejected.peer_streams"] >= cut_at
            assert p.metrics["bitswap.charged.peer_streams"] >= cut_at
            await wait_for(p, "gossip.transport.excess_streams", 10 - gossip.PEER_STREAMS)
            assert GRAYLIST_SCORE < p.peer_scores()[g.peer_id] < 0
            with trio.fail_after(10):
                while m.peer_id in p.connected_peers():
                    await trio.sleep(0.05)
            assert g.peer_id in p.connected_peers()
            assert await f.fetch_blob(cid, [p.peer_id], timeout=30) == data

    run(scenario)


def test_idle_identify_push_streams_are_capped_per_peer(tmp_path: Path) -> None:
    """py-libp2p 0.8.1 caps ping at 2 streams a peer, but its identify-push handler waits
    for a message with no deadline: every idle stream held a task forever. 60 idle
    identify-push streams from one peer get PEER_INBOUND_STREAMS slots at most, the rest
    are reset and counted, and the target still answers an honest ping and fetch."""
    from libp2p.host.ping import ID as PING
    from libp2p.identity.identify_push.identify_push import ID_PUSH

    from node.p2p import host

    data = random.Random(9).randbytes(200_000)
    flood = 60

    async def scenario() -> None:
        async with nodes(tmp_path, 3) as (m, p, f):
            cid = await p.add_blob(data)
            await link(m, p)
            await link(f, p)
            for _ in range(flood):
                with contextlib.suppress(Exception):  # refused ones fail to negotiate
                    await m.host.new_stream(p.host.get_id(), [ID_PUSH])
            await wait_for(p, "stream.refused.peer_streams", flood - host.PEER_INBOUND_STREAMS)
            honest = await f.host.new_stream(p.host.get_id(), [PING])
            await honest.write(b"\x07" * 32)
            with trio.fail_after(30):
                assert await honest.read(32) == b"\x07" * 32
            assert await f.fetch_blob(cid, [p.peer_id], timeout=30) == data
            assert p.metrics["stream.refused.peer_streams"] >= flood - host.PEER_INBOUND_STREAMS

    run(scenario)
