"""A peer that asks for blocks and never reads what we send: what it holds, and that it is
charged. Real py-libp2p hosts on loopback, real Bitswap and ``/fedchain/blocks/1``; the
attacker speaks the wire protocols through raw streams and accepts our Bitswap streams
without ever reading them. Assertions are on counters and streams, never on wall time.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.bitswap.config import (
    BITSWAP_PROTOCOL_V100,
    BITSWAP_PROTOCOL_V110,
    BITSWAP_PROTOCOL_V120,
)
from libp2p.custom_types import TProtocol

from node.p2p.network import PeerNetwork
from node.p2p.peer_score import BITSWAP_PENALTIES, GRAYLIST_SCORE
from node.store import bitswap, dagpb, sendqueue
from node.store.blockstream import StreamReader
from node.store.cid import parse_cid_str
from tests.integration.test_bitswap_abuse import until_cut_off, wants
from tests.integration.test_p2p_network import link, nodes, run

pytestmark = pytest.mark.integration

BLOB = 4 * 2**20  # 16 blocks of 256 KiB: as much as MAX_PEER_QUEUED_BYTES


BITSWAP = {BITSWAP_PROTOCOL_V100, BITSWAP_PROTOCOL_V110, BITSWAP_PROTOCOL_V120}


def streams_to(net: PeerNetwork, peer: PeerNetwork) -> int:
    """Yamux streams ``net`` holds open with ``peer`` (either direction) but for those of
    other protocols (pubsub's, which open at their own pace): Bitswap's, and streams left
    in the muxer's table after their libp2p stream was dropped."""
    held = 0
    for conn in net.host.get_network().connections.get(peer.host.get_id(), []):
        others = {id(s.muxed_stream) for s in conn.get_streams() if s.get_protocol() not in BITSWAP}
        table = getattr(conn.muxed_conn, "streams", {})
        held += sum(1 for s in table.values() if id(s) not in others)
    return held


def queued_for(net: PeerNetwork, peer: PeerNetwork) -> int:
    """Block bytes ``net`` holds for ``peer``: queued, and taken by a send under way."""
    queue = net._exchange.client._message_queues.get(peer.host.get_id())
    return queue.queued_bytes() if isinstance(queue, sendqueue.BoundedSendQueue) else 0


def never_read(attacker: PeerNetwork, held: list[INetStream]) -> None:
    """The attacker accepts the target's Bitswap streams (answers come on them) and never
    reads a byte: the target's sends stall on the yamux window."""

    async def hold(stream: INetStream) -> None:
        held.append(stream)
        await trio.sleep_forever()

    for proto in (BITSWAP_PROTOCOL_V100, BITSWAP_PROTOCOL_V110, BITSWAP_PROTOCOL_V120):
        attacker.host.set_stream_handler(TProtocol(proto), hold)


@pytest.mark.parametrize("timeout", [1.0, 60.0], ids=["send_timeout", "yamux_window_wait"])
def test_a_peer_that_never_reads_is_bounded_and_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: float
) -> None:
    """M wants every block of P's 4 MiB blob, again every 0.2 s, and reads nothing.

    Before: each stalled send was closed (not reset) by yamux's 5 s window timeout, the
    blocks it had taken dropped, and the next want-list refilled the queue: P kept up to
    twice MAX_PEER_QUEUED_BYTES for M (the queue plus the send's copy) and one more
    half-closed stream for every stall (5 in 25 s), and M was never charged. Now a send
    M does not read within SEND_TIMEOUT is reset, what was queued for M dropped, M
    charged ``send_stall``, and M cut off after a few stalls; P never holds more than
    MAX_PEER_QUEUED_BYTES for M. Either timer finds the stall: ours (SEND_TIMEOUT, 1 s
    here), or yamux's 5 s wait for window (SEND_TIMEOUT 60 s here), which py-libp2p's
    NetStream reports as a reset of the stream."""
    monkeypatch.setattr(sendqueue, "SEND_TIMEOUT", timeout)
    data = random.Random(31).randbytes(BLOB)

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (m, p):
            held: list[INetStream] = []
            never_read(m, held)
            cid = await p.add_blob(data)
            root = parse_cid_str(cid)
            root_block = p._exchange.store.get(root)
            assert root_block is not None
            leaves = [ln.cid for ln in dagpb.decode_file_node(root_block).links]
            await link(m, p)
            base = streams_to(p, m)
            stream = await m.host.new_stream(p.host.get_id(), [BITSWAP_PROTOCOL_V120])
            peak_queued = peak_streams = 0
            with contextlib.suppress(Exception), trio.move_on_after(150):
                while not p.metrics["p2p.disconnected.graylisted"]:
                    await stream.write(wants(leaves, 0))
                    for _ in range(4):
                        await trio.sleep(0.05)
                        peak_queued = max(peak_queued, queued_for(p, m))
                        peak_streams = max(peak_streams, streams_to(p, m))
            print(
                f"peak queued {peak_queued}, peak streams {peak_streams} (base {base}), served "
                f"{p.metrics['bitswap.bytes_served']}, held {len(held)}, "
                f"charged {dict((k, v) for k, v in p.metrics.items() if '.charged.' in k)}"
            )
            await until_cut_off(p, m)
            needed = int(-GRAYLIST_SCORE // BITSWAP_PENALTIES["send_stall"])
            assert p.metrics["bitswap.charged.send_stall"] >= needed
            assert p.metrics["bitswap.rejected.send_stall"] >= needed
            assert peak_queued <= bitswap.MAX_PEER_QUEUED_BYTES
            # M's want-list stream and P's answer stream (base: identify's, at connect)
            assert peak_streams - base <= 2
            assert queued_for(p, m) == 0

    run(scenario)


def test_a_peer_whose_reader_left_gets_a_new_stream_uncharged(tmp_path: Path) -> None:
    """H reads one message on each Bitswap stream P opens to it, then closes its side (as
    py-libp2p does with a stream idle for 60 s). P's next answer used to go down the same
    stream, where nobody read it (lost; had it stalled, a stall timer would have charged an
    honest peer). Now P opens a new stream for it, and charges nothing."""
    rng = random.Random(32)
    messages: list[tuple[int, bytes]] = []  # (stream number, message)
    streams: list[INetStream] = []

    async def reads_one_then_closes(stream: INetStream) -> None:
        streams.append(stream)
        number = len(streams)
        messages.append((number, await StreamReader(stream).read_frame(2**20)))
        await stream.close()

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (h, p):
            for proto in (BITSWAP_PROTOCOL_V100, BITSWAP_PROTOCOL_V110, BITSWAP_PROTOCOL_V120):
                h.host.set_stream_handler(TProtocol(proto), reads_one_then_closes)
            first = parse_cid_str(await p.add_blob(rng.randbytes(1000)))
            second = parse_cid_str(await p.add_blob(rng.randbytes(1000)))
            await link(h, p)
            stream = await h.host.new_stream(p.host.get_id(), [BITSWAP_PROTOCOL_V120])
            await stream.write(wants([first], 0))
            with trio.fail_after(30):
                while not messages:
                    await trio.sleep(0.05)
            await trio.sleep(0.5)  # H's close reaches P
            await stream.write(wants([second], 0))
            with trio.fail_after(30):  # hang guard: on HEAD the answer is never read
                while len(messages) < 2:
                    await trio.sleep(0.05)
            assert [number for number, _ in messages] == [1, 2]
            charged = {k: v for k, v in p.metrics.items() if ".charged." in k}
            assert charged == {}
            assert h.peer_id in p.connected_peers()

    run(scenario)
