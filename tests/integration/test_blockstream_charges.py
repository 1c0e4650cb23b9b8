"""What ``/fedchain/blocks/1`` charges: refused streams past a per-peer free allowance, a
client that leaves our data unread as much as a Bitswap send stall; honest clients
(parallel fetches, a peer not yet in our registry copy, an open that timed out) are
charged nothing. Real
py-libp2p hosts on loopback; attackers speak the protocol through raw streams.
Assertions are on counters, scores and connections, never on wall time.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
import trio
from libp2p.network.stream.net_stream import INetStream

from node.p2p.network import PeerNetwork, open_network
from node.p2p.peer_score import BLOCKSTREAM_PENALTIES, GRAYLIST_SCORE
from node.store import blockstream, dagpb
from node.store.blockstream import PROTOCOL, StreamReader
from node.store.cid import parse_cid_str
from tests.integration.test_bitswap_abuse import until_cut_off
from tests.integration.test_p2p_network import link, nodes, run

pytestmark = pytest.mark.integration


def request(cid: str) -> bytes:
    root = parse_cid_str(cid)
    return dagpb.encode_varint(len(root)) + root


async def open_unread(attacker: PeerNetwork, target: PeerNetwork, cid: str) -> None:
    """A stream that asks for ``cid`` and never reads the answer."""
    with contextlib.suppress(Exception):  # refused, or the connection was cut
        stream = await attacker.host.new_stream(target.host.get_id(), [PROTOCOL])
        await stream.write(request(cid))


@pytest.mark.parametrize("timeout", [1.0, 60.0], ids=["write_timeout", "yamux_window_wait"])
def test_a_client_that_never_reads_is_charged_and_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: float
) -> None:
    """R (registered) asks P for a 4 MiB blob on PEER_STREAMS streams at a time and reads
    nothing. Before: each stream held one of P's SERVE_LIMIT serving slots until yamux's
    5 s window wait ran out (``serve_failed``), R opened the next, uncharged, for ever.
    Now each stall costs ``write_stall`` and R is cut off after a few. Either timer finds
    the stall: WRITE_TIMEOUT (1 s here) or yamux's 5 s wait for window (WRITE_TIMEOUT
    60 s here), which py-libp2p's NetStream reports as a reset of the stream."""
    monkeypatch.setattr(blockstream, "WRITE_TIMEOUT", timeout)
    data = random.Random(41).randbytes(4 * 2**20)

    async def scenario() -> None:
        async with nodes(tmp_path, 1) as (r,):
            registered = {r.peer_id}
            async with open_network(
                data_dir=tmp_path / "p", is_registered=registered.__contains__
            ) as p:
                cid = await p.add_blob(data)
                await link(r, p)
                slots_peak = 0
                with trio.move_on_after(150):
                    while not p.metrics["p2p.disconnected.graylisted"]:
                        while p._exchange.server.streams[r.host.get_id()] < 2:
                            await open_unread(r, p, cid)
                            if p.metrics["p2p.disconnected.graylisted"]:
                                break
                        slots_peak = max(slots_peak, p._exchange.server.limit.borrowed_tokens)
                        await trio.sleep(0.05)
                await until_cut_off(p, r)
                needed = int(-GRAYLIST_SCORE // BLOCKSTREAM_PENALTIES["write_stall"])
                assert p.metrics["blockstream.charged.write_stall"] >= needed
                assert p.metrics["blockstream.write_timeout"] >= needed
                assert slots_peak <= blockstream.PEER_STREAMS
                assert p._exchange.server.limit.borrowed_tokens == 0

    run(scenario)


def test_a_few_refusals_are_free_a_flood_is_charged(tmp_path: Path) -> None:
    """An unregistered peer's streams are refused. The first FREE_REFUSALS cost nothing
    (an honest peer that registered a moment ago meets a few); past them each costs
    ``unregistered``, and a flood cuts the peer off."""
    needed = int(-GRAYLIST_SCORE // BLOCKSTREAM_PENALTIES["unregistered"])
    free = blockstream.FREE_REFUSALS

    async def scenario() -> None:
        async with (
            nodes(tmp_path, 1) as (u,),
            open_network(data_dir=tmp_path / "p", is_registered=set[str]().__contains__) as p,
        ):
            await link(u, p)
            for _ in range(free // 2):
                with contextlib.suppress(Exception):
                    await u.host.new_stream(p.host.get_id(), [PROTOCOL])
            with trio.fail_after(30):
                while p.metrics["blockstream.refused.unregistered"] < free // 2:
                    await trio.sleep(0.05)
            assert p.metrics["blockstream.charged.unregistered"] == 0
            assert p.peer_scores().get(u.peer_id, 0.0) == 0.0
            assert u.peer_id in p.connected_peers()
            for _ in range(3 * (free + needed)):
                with contextlib.suppress(Exception):
                    await u.host.new_stream(p.host.get_id(), [PROTOCOL])
                if p.metrics["p2p.disconnected.graylisted"]:
                    break
            await until_cut_off(p, u)
            assert p.metrics["blockstream.charged.unregistered"] >= needed
            assert p.metrics["blockstream.refused.unregistered"] >= free + needed

    run(scenario)


def test_honest_clients_stay_far_from_the_cut_off(tmp_path: Path) -> None:
    """H fetches from P while P's registry copy does not hold H yet (refused:
    ``unregistered``, Bitswap delivers), then, registered, fetches 4 blobs from P at once
    (over PEER_STREAMS: ``peer_streams``). The refusals are within H's free ones: H is
    charged nothing and keeps its connection."""
    rng = random.Random(42)
    blobs = [rng.randbytes(600_000) for _ in range(5)]

    async def scenario() -> None:
        async with nodes(tmp_path, 1) as (h,):
            registered: set[str] = set()
            async with open_network(
                data_dir=tmp_path / "p", is_registered=registered.__contains__
            ) as p:
                cids = [await p.add_blob(b) for b in blobs]
                await link(h, p)
                assert await h.fetch_blob(cids[0], [p.peer_id], timeout=60) == blobs[0]
                assert p.metrics["blockstream.refused.unregistered"] >= 1
                registered.add(h.peer_id)
                got: dict[int, bytes] = {}

                async def fetch(i: int) -> None:
                    got[i] = await h.fetch_blob(cids[i], [p.peer_id], timeout=60)

                async with trio.open_nursery() as nursery:
                    for i in range(1, 5):
                        nursery.start_soon(fetch, i)
                assert got == {i: blobs[i] for i in range(1, 5)}
                refused = p.metrics["blockstream.refused.unregistered"]
                assert refused + p.metrics["blockstream.refused.peer_streams"] >= 1
                charged = {k: v for k, v in p.metrics.items() if ".charged." in k}
                assert charged == {}
                assert p.peer_scores().get(h.peer_id, 0.0) == 0.0
                assert h.peer_id in p.connected_peers()

    run(scenario)


def test_an_open_that_times_out_resets_its_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider slow to answer: the client gives up at OPEN_TIMEOUT and resets the
    stream. It used to leave it open and unread, and a provider that answered late wrote
    into it until its window stalled (which a provider now charges ``write_stall``)."""
    monkeypatch.setattr(blockstream, "OPEN_TIMEOUT", 1.0)
    ended: list[str] = []

    async def nods_off(stream: INetStream) -> None:
        await StreamReader(stream).read_frame(128)
        try:
            with trio.fail_after(30):  # hang guard only
                data = await stream.read(1)
            ended.append("eof" if not data else "data")
        except trio.TooSlowError:
            ended.append("left open")
        except Exception:  # noqa: BLE001 - the reset we expect
            ended.append("reset")

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (c, s):
            s.host.set_stream_handler(PROTOCOL, nods_off)
            cid = await s.add_blob(b"x" * 1000)
            await link(c, s)
            client = blockstream.BlockStreamClient(c.host, c._exchange.store, s.host.get_id())
            assert not await client.open(parse_cid_str(cid))
            with trio.fail_after(40):
                while not ended:
                    await trio.sleep(0.05)
            assert ended == ["reset"]

    run(scenario)
