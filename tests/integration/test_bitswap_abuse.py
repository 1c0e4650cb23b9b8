"""Bitswap abuse costs the peer score and gets the peer cut off, like a gossip flooder;
honest Bitswap traffic costs nothing. Real py-libp2p hosts on loopback, real Bitswap;
attackers speak the wire protocol through raw streams. Assertions are on counters and
connections, never on wall time.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
import trio
from libp2p.bitswap.cid import get_cid_prefix
from libp2p.bitswap.config import BITSWAP_PROTOCOL_V100, BITSWAP_PROTOCOL_V120
from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.custom_types import TProtocol

from node.errors import NetworkError
from node.p2p.network import PeerNetwork
from node.p2p.peer_score import BITSWAP_PENALTIES, GRAYLIST_SCORE
from node.store import bitswap, dagpb
from node.store.blockstream import PROTOCOL as BLOCKS_PROTOCOL
from node.store.cid import CODEC_RAW, compute_cid, make_cid
from tests.integration.test_p2p_network import link, nodes, run

pytestmark = pytest.mark.integration


def frame(msg: Message) -> bytes:
    body = msg.SerializeToString()
    return dagpb.encode_varint(len(body)) + body


def wants(cids: list[bytes], want_type: int, send_dont_have: bool = False) -> bytes:
    msg = Message()
    for cid in cids:
        msg.wantlist.entries.add(
            block=cid, priority=1, wantType=want_type, sendDontHave=send_dont_have
        )
    return frame(msg)


def unwanted_block(data: bytes, v100: bool = False) -> bytes:
    msg = Message()
    if v100:  # Bitswap 1.0: bare block bytes, no CID prefix
        msg.blocks.append(data)
        return frame(msg)
    block = msg.payload.add()
    block.prefix = get_cid_prefix(make_cid(CODEC_RAW, data))
    block.data = data
    return frame(msg)


async def until_cut_off(target: PeerNetwork, attacker: PeerNetwork) -> None:
    with trio.fail_after(60):
        while target.metrics["p2p.disconnected.graylisted"] < 1:
            await trio.sleep(0.05)
        while attacker.peer_id in target.connected_peers():
            await trio.sleep(0.05)
        while target.peer_id in attacker.connected_peers():  # the attacker noticed too
            await trio.sleep(0.05)


async def assert_refused(target: PeerNetwork, attacker: PeerNetwork) -> None:
    """The cut-off peer cannot come back during its cooldown, whoever dials."""
    refused = target.metrics["p2p.refused.graylisted"]
    await attacker.connect(target.peer_id, target.listen_addrs())  # its handshake may finish
    with trio.fail_after(10):
        while target.metrics["p2p.refused.graylisted"] == refused:
            await trio.sleep(0.05)
    assert attacker.peer_id not in target.connected_peers()
    assert not await target.connect(attacker.peer_id, attacker.listen_addrs())
    assert target.metrics["p2p.refused.graylisted"] >= refused + 2


async def send_until_cut_off(
    target: PeerNetwork,
    attacker: PeerNetwork,
    messages: list[bytes],
    protocol: str = BITSWAP_PROTOCOL_V120,
) -> int:
    """Write ``messages`` on one Bitswap stream until the target hangs up; how many went."""
    stream = await attacker.host.new_stream(target.host.get_id(), [TProtocol(protocol)])
    sent = 0
    with contextlib.suppress(Exception):  # the stream dies with the connection
        for message in messages:
            await stream.write(message)
            sent += 1
            await trio.sleep(0.02)
            if target.metrics["p2p.disconnected.graylisted"]:
                break
    return sent


def test_a_want_list_flooder_is_cut_off(tmp_path: Path) -> None:
    """Want-lists of 1500 random want-haves each (over MAX_MESSAGE_WANTS, soon over the
    want rate): charged per message, the flooder is disconnected and refused."""
    rng = random.Random(21)

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (m, p):
            await link(m, p)
            flood = [
                wants([make_cid(CODEC_RAW, rng.randbytes(8)) for _ in range(1500)], 1)
                for _ in range(40)
            ]
            sent = await send_until_cut_off(p, m, flood)
            await until_cut_off(p, m)
            assert p.metrics["bitswap.charged.message_wants"] >= 1
            assert p.metrics["bitswap.rejected.message_wants"] >= 476
            assert sent < len(flood)  # cut off before the flood was over
            await assert_refused(p, m)

    run(scenario)


@pytest.mark.parametrize("v100", [False, True], ids=["bitswap_1.2", "bitswap_1.0"])
def test_a_peer_sending_blocks_nobody_asked_for_is_cut_off(tmp_path: Path, v100: bool) -> None:
    """Blocks no fetch of ours wanted, one a message: each is dropped unstored and costs
    ``unsolicited_block``; enough of them cut the sender off. Bitswap 1.0 blocks carry no
    CID; expecting nothing from the peer, they are dropped before any hashing."""
    rng = random.Random(22)
    needed = int(-GRAYLIST_SCORE / BITSWAP_PENALTIES["unsolicited_block"])
    protocol = BITSWAP_PROTOCOL_V100 if v100 else BITSWAP_PROTOCOL_V120

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (m, p):
            await link(m, p)
            blocks = [unwanted_block(rng.randbytes(1024), v100) for _ in range(3 * needed)]
            await send_until_cut_off(p, m, blocks, protocol)
            await until_cut_off(p, m)
            assert p.metrics["bitswap.charged.unsolicited_block"] >= needed
            assert p.metrics["bitswap.late_block"] == 0
            await assert_refused(p, m)

    run(scenario)


def test_an_honest_peer_asking_for_what_we_lack_is_never_charged(tmp_path: Path) -> None:
    """H fetches a 6 MiB blob from P over Bitswap only (more than P queues for one peer at
    once: ``queue_full``, answered when H asks again), fetches a blob P does not hold until
    it gives up, and sends want-lists of CIDs P lacks asking for DONT_HAVE. None of it is
    charged: H keeps a clean score and its connection."""
    data = random.Random(23).randbytes(6 * 2**20)
    rng = random.Random(24)

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (h, p):
            p.host.remove_stream_handler(BLOCKS_PROTOCOL)  # Bitswap only
            cid = await p.add_blob(data)
            await link(h, p)
            assert await h.fetch_blob(cid, [p.peer_id], timeout=60) == data
            assert h.metrics["fetch.won.bitswap"] == 1
            missing = compute_cid(b"a blob nobody stored")
            with pytest.raises(NetworkError):
                await h.fetch_blob(missing, [p.peer_id], timeout=3)
            assert p.metrics["bitswap.rejected.queue_full"] >= 1  # the honest big fetch did
            received = p.metrics["bitswap.wantlists_received"]
            stream = await h.host.new_stream(p.host.get_id(), [BITSWAP_PROTOCOL_V120])
            for _ in range(3):
                lacking = [make_cid(CODEC_RAW, rng.randbytes(8)) for _ in range(300)]
                await stream.write(wants(lacking, 0, send_dont_have=True))
            with trio.fail_after(30):
                while p.metrics["bitswap.wantlists_received"] < received + 3:
                    await trio.sleep(0.05)
            await trio.sleep(0.5)
            charged = {k: v for k, v in p.metrics.items() if k.startswith("bitswap.charged.")}
            assert charged == {}
            assert p.peer_scores().get(h.peer_id, 0.0) == 0.0
            assert p.metrics["p2p.disconnected.graylisted"] == 0
            assert h.peer_id in p.connected_peers()

    run(scenario)


def test_queue_full_and_dont_have_are_not_in_the_price_list() -> None:
    """What honest peers do stays out of ``BITSWAP_PENALTIES``; every charged reason is one
    Bitswap actually counts."""
    assert "queue_full" not in BITSWAP_PENALTIES
    assert "late_block" not in BITSWAP_PENALTIES
    source = Path(bitswap.__file__).read_text()
    for reason in BITSWAP_PENALTIES:
        assert f'"{reason}"' in source, reason
