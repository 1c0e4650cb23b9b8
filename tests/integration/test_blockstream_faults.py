"""Providers that misbehave on the ``/fedchain/blocks/1`` fast path.

Real py-libp2p hosts on loopback. The provider is a normal node whose handler for
the fast-path protocol is replaced by a misbehaving one; its Bitswap stays honest,
so every fetch must end with the right bytes through Bitswap, the fault counted and
nothing bad kept in the fetcher's store. The corrupt and out-of-order providers also
show that a stream handler which raises (its write hits the fetcher's reset) no
longer stops the connection from accepting the Bitswap stream that follows.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
from libp2p.network.stream.net_stream import INetStream

from node.p2p.network import PeerNetwork, open_network
from node.store import blockstream, dagpb
from node.store.blockstream import PROTOCOL, STATUS_OK, StreamReader
from node.store.cid import parse_cid_str

pytestmark = pytest.mark.integration

MIB = 2**20
GUARD = 60  # seconds; only stops a hung test
Handler = Callable[[INetStream], Awaitable[None]]


def frame(data: bytes) -> bytes:
    return dagpb.encode_varint(len(data)) + data


async def send_only_the_root(provider: PeerNetwork, stream: INetStream) -> None:
    root = await StreamReader(stream).read_frame(128)
    block = provider._exchange.store.get(root)
    assert block is not None
    await stream.write(bytes([STATUS_OK]) + frame(root) + frame(block))


def stalls_after_root(provider: PeerNetwork) -> Handler:
    async def handle(stream: INetStream) -> None:
        await send_only_the_root(provider, stream)
        await trio.sleep_forever()

    return handle


def resets_after_root(provider: PeerNetwork) -> Handler:
    async def handle(stream: INetStream) -> None:
        await send_only_the_root(provider, stream)
        await stream.reset()

    return handle


def corrupts_first_leaf(provider: PeerNetwork) -> Handler:
    async def handle(stream: INetStream) -> None:
        root = await StreamReader(stream).read_frame(128)
        out = bytearray([STATUS_OK])
        for i, (cid, block) in enumerate(blockstream._dag_order(provider._exchange.store, root)):
            out += frame(cid) + frame(block if i != 1 else b"\x00" + block[1:])
        await stream.write(bytes(out))
        await stream.close()

    return handle


def sends_out_of_order(provider: PeerNetwork) -> Handler:
    async def handle(stream: INetStream) -> None:
        root = await StreamReader(stream).read_frame(128)
        blocks = list(blockstream._dag_order(provider._exchange.store, root))
        blocks[1], blocks[2] = blocks[2], blocks[1]
        await stream.write(bytes([STATUS_OK]) + b"".join(frame(c) + frame(b) for c, b in blocks))
        await stream.close()

    return handle


@pytest.mark.parametrize(
    ("make_handler", "counter"),
    [
        (stalls_after_root, "blockstream.broken"),
        (resets_after_root, "blockstream.broken"),
        (corrupts_first_leaf, "blockstream.bad_content"),
        (sends_out_of_order, "blockstream.broken"),
    ],
    ids=["stall", "reset", "corrupt", "out_of_order"],
)
def test_a_bad_fast_path_provider_falls_back_to_bitswap(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_handler: Callable[[PeerNetwork], Handler],
    counter: str,
) -> None:
    monkeypatch.setattr(blockstream, "STALL_TIMEOUT", 1.0)
    data = os.urandom(3 * MIB + 17)

    async def scenario() -> None:
        async with (
            open_network(data_dir=tmp_path / "provider") as provider,
            open_network(data_dir=tmp_path / "fetcher") as fetcher,
        ):
            cid = await provider.add_blob(data)
            provider.host.set_stream_handler(PROTOCOL, make_handler(provider))
            assert await fetcher.connect(provider.peer_id, provider.listen_addrs())
            with trio.fail_after(GUARD):
                got = await fetcher.fetch_blob(cid, [provider.peer_id], timeout=GUARD)
            assert got == data
            assert fetcher.metrics[counter] == 1
            assert fetcher.metrics["blockstream.fetched"] == 0
            assert fetcher.metrics["fetch.bitswap"] == 1
            # every leaf (all the data) came over Bitswap, and the provider counted it
            assert provider.metrics["bitswap.bytes_served"] >= len(data)
            # what the fetcher kept is exactly the blob's blocks, all verified
            store = fetcher._exchange.store
            assert fetcher.has_blob(cid)
            for block_cid in store.all_cids():
                assert store.get(block_cid) == provider._exchange.store.get(block_cid)
            assert await fetcher.get_local_blob(cid) == data
            assert parse_cid_str(cid) in set(store.all_cids())

    trio.run(scenario)
