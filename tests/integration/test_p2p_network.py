"""Real py-libp2p hosts on loopback: Bitswap blobs, gossipsub, restarts.

No mocks. Timeouts below only stop a hung test; nothing asserts on wall time.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
import trio

from node.errors import ContentError, NetworkError
from node.p2p.network import GossipMessage, GossipPolicy, PeerNetwork, open_network
from node.store.blockstream import PROTOCOL as BLOCKS_PROTOCOL
from node.store.cid import compute_cid

pytestmark = pytest.mark.integration

MIB = 2**20
TOPIC = "fedchain/test"
HANG_GUARD = 120  # seconds; a guard against hangs, not a performance assertion


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        with trio.fail_after(HANG_GUARD):
            await test()

    try:
        trio.run(guarded)
    except BaseExceptionGroup as group:
        # the nurseries of three services nest deeper than a traceback prints ("... (max
        # group depth is 10)"): a failed test showed no assertion, so raise what failed
        first, *others = leaves(group)
        for other in others:
            first.add_note(f"also raised: {other!r}")
        raise first from None


def leaves(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [group]


@asynccontextmanager
async def nodes(tmp_path: Path, count: int) -> AsyncIterator[list[PeerNetwork]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(open_network(data_dir=tmp_path / f"n{i}"))
            for i in range(count)
        ]


async def link(a: PeerNetwork, b: PeerNetwork) -> None:
    assert await a.connect(b.peer_id, b.listen_addrs())


async def receive(channel: trio.MemoryReceiveChannel[GossipMessage]) -> GossipMessage:
    with trio.fail_after(10):
        return await channel.receive()


def test_two_hosts_exchange_a_2mib_blob(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(2 * MIB)

    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (a, b):
            await link(b, a)
            cid = await a.add_blob(data)
            assert cid == compute_cid(data)
            assert a.has_blob(cid)
            assert not b.has_blob(cid)
            got = await b.fetch_blob(cid, [a.peer_id], timeout=30)
            assert got == data
            assert compute_cid(got) == cid
            assert b.has_blob(cid)  # b now holds (and serves) every block
            assert await b.get_local_blob(cid) == data
            assert b.metrics["fetch.ok"] == 1
            # a served every data byte (raw leaves) plus the root node, over the fast path
            assert len(data) < a.metrics["blockstream.bytes_served"] < len(data) + 4096

    run(scenario)


def test_gossip_reaches_every_host_on_a_line(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 3) as (a, b, c):
            await link(a, b)
            await link(b, c)  # a and c are not connected: b must relay
            channels = {n.peer_id: await n.subscribe(TOPIC) for n in (a, b, c)}
            await a.wait_for_mesh(TOPIC, 1, timeout=10)
            await b.wait_for_mesh(TOPIC, 2, timeout=10)
            await c.wait_for_mesh(TOPIC, 1, timeout=10)
            await a.publish(TOPIC, b"cid announcement")
            for node in (a, b, c):
                msg = await receive(channels[node.peer_id])
                assert msg == GossipMessage(TOPIC, a.peer_id, b"cid announcement")
            # and the other way round, from the far end
            await c.publish(TOPIC, b"from c")
            for node in (a, b, c):
                assert (await receive(channels[node.peer_id])).sender == c.peer_id
            # a message b's policy keeps local (a push) reaches b, not c; the next is relayed
            b.set_gossip_policy(TOPIC, GossipPolicy(decode=bytes, relay=b"local".__ne__))
            await a.publish(TOPIC, b"local")
            await a.publish(TOPIC, b"relayed")
            assert (await receive(channels[b.peer_id])).data == b"local"
            assert (await receive(channels[c.peer_id])).data == b"relayed"
            assert b.metrics["gossip.relay_skipped"] == 1

    run(scenario)


def test_oversize_publish_is_refused_and_validator_rejections_are_counted(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (a, b):
            await link(a, b)
            inbox = await b.subscribe(TOPIC)
            await a.subscribe(TOPIC)
            b.set_validator(TOPIC, lambda sender, data: "bad_payload" if data == b"bad" else None)
            await a.wait_for_mesh(TOPIC, 1, timeout=10)
            await b.wait_for_mesh(TOPIC, 1, timeout=10)

            with pytest.raises(NetworkError, match="exceeds the 65536-byte limit"):
                await a.publish(TOPIC, bytes(64 * 1024 + 1))
            await a.publish(TOPIC, bytes(64 * 1024))  # exactly at the limit is fine
            assert len((await receive(inbox)).data) == 64 * 1024

            await a.publish(TOPIC, b"bad")
            await a.publish(TOPIC, b"good")
            msg = await receive(inbox)
            assert msg.data == b"good"  # "bad" was dropped by b's validator
            assert b.metrics["gossip.rejected.bad_payload"] == 1

            # our own validator refuses our own bad message up front
            a.set_validator(TOPIC, lambda sender, data: "nope")
            with pytest.raises(NetworkError, match="nope"):
                await a.publish(TOPIC, b"anything")

    run(scenario)


def test_fetch_of_unknown_cid_times_out_clearly(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (a, b):
            await link(b, a)
            missing = compute_cid(b"nobody has this")
            with pytest.raises(NetworkError, match=r"timed out after 2s fetching " + missing):
                await b.fetch_blob(missing, [a.peer_id], timeout=2)
            assert b.metrics["fetch.failed.timeout"] == 1
            with pytest.raises(ContentError, match="invalid CID"):
                await b.fetch_blob("not-a-cid", [a.peer_id], timeout=2)

    run(scenario)


def test_oversize_blob_is_refused_before_download(tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            a = await stack.enter_async_context(open_network(data_dir=tmp_path / "a"))
            b = await stack.enter_async_context(
                open_network(data_dir=tmp_path / "b", max_blob_size=MIB)
            )
            await link(b, a)
            cid = await a.add_blob(data)
            with pytest.raises(ContentError, match="declares 3145728 bytes > 1048576"):
                await b.fetch_blob(cid, [a.peer_id], timeout=30)
            with pytest.raises(ContentError, match="exceeds"):
                await b.add_blob(data)

    run(scenario)


def test_restart_keeps_peer_id_and_serves_old_blobs(tmp_path: Path) -> None:
    data = os.urandom(MIB + 1234)

    async def scenario() -> None:
        async with open_network(data_dir=tmp_path / "a") as a:
            first_id = a.peer_id
            cid = await a.add_blob(data)
        async with nodes(tmp_path / "again", 1) as (b,), open_network(data_dir=tmp_path / "a") as a:
            assert a.peer_id == first_id
            assert a.has_blob(cid)
            await link(b, a)
            assert await b.fetch_blob(cid, [a.peer_id], timeout=30) == data

    run(scenario)


def test_four_hosts_fetch_each_others_blobs_concurrently(tmp_path: Path) -> None:
    rng = random.Random(4)

    async def scenario() -> None:
        async with nodes(tmp_path, 4) as peers:
            for i, a in enumerate(peers):
                for b in peers[i + 1 :]:
                    await link(a, b)
            blobs = {}
            for node in peers:
                data = rng.randbytes(rng.randint(MIB // 2, 3 * MIB))
                blobs[node.peer_id] = (await node.add_blob(data), data)
            results: list[bool] = []

            async def fetch(node: PeerNetwork, owner: str) -> None:
                cid, data = blobs[owner]
                results.append(await node.fetch_blob(cid, [owner], timeout=60) == data)

            async with trio.open_nursery() as nursery:
                for node in peers:
                    for owner in blobs:
                        if owner != node.peer_id:
                            nursery.start_soon(fetch, node, owner)
            assert results == [True] * 12
            for node in peers:
                assert all(node.has_blob(cid) for cid, _ in blobs.values())

    run(scenario)


def test_unreachable_peer_and_taken_port(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 2) as (a, b):
            # b's peer id at an address where nothing listens
            assert await a.connect(b.peer_id, ["/ip4/127.0.0.1/tcp/1"]) is False
            assert await a.connect("not-a-peer-id", b.listen_addrs()) is False
            assert a.metrics["connect.failed"] == 2
            assert a.typical_dial_s() == 0.0  # failed dials say nothing of dial times
            assert await a.connect(b.peer_id, [f"{b.listen_addrs()[0]}/p2p/{b.peer_id}"])
            assert a.typical_dial_s() > 0.0
            assert a.connected_peers() == {b.peer_id}
            port = int(a.listen_addrs()[0].rsplit("/", 1)[1])
            with pytest.raises(NetworkError, match="cannot listen"):
                async with open_network(data_dir=tmp_path / "c", listen_port=port):
                    pass

    run(scenario)


def test_garbage_collection_keeps_what_is_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with nodes(tmp_path, 1) as (a,):
            model = await a.add_blob(random.Random(5).randbytes(MIB))
            old = await a.add_blob(random.Random(6).randbytes(MIB))
            assert await a.collect_garbage([model]) == 5  # 4 leaves + root of `old`
            assert a.has_blob(model) and not a.has_blob(old)

    run(scenario)


def test_bitswap_wants_go_to_the_providers_only(tmp_path: Path) -> None:
    """A fetch that lists providers sends its want-lists (WANT-HAVE, WANT-BLOCK, CANCEL)
    to them alone: a connected bystander handles none. Only a fetch listing nobody asks
    every connected peer."""

    async def scenario() -> None:
        async with nodes(tmp_path, 3) as (author, bystander, fetcher):
            author.host.remove_stream_handler(BLOCKS_PROTOCOL)  # Bitswap must fetch
            listed = await author.add_blob(random.Random(7).randbytes(300_000))
            unlisted = await author.add_blob(random.Random(8).randbytes(300_000))
            await link(fetcher, author)
            await link(fetcher, bystander)
            assert await fetcher.fetch_blob(listed, [author.peer_id], timeout=30)
            assert fetcher.metrics["fetch.won.bitswap"] == 1
            await trio.sleep(1)  # time for a stray want or cancel to land; not a timing test
            assert author.metrics["bitswap.wantlists_received"] > 0
            assert bystander.metrics["bitswap.wantlists_received"] == 0
            assert await fetcher.fetch_blob(unlisted, [], timeout=30)
            while not bystander.metrics["bitswap.wantlists_received"]:  # the counter works
                await trio.sleep(0.1)

    run(scenario)
