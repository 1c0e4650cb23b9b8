"""bench/hostile.py --mode fetch: the hostile peers that attack the update exchange.

H1 and H2 (registered) serve the fast path as drip providers, H1 announcing itself for
every commitment; H2 bursts Bitswap want-blocks and random want-haves and leaves half
frames; U (unregistered) holds idle block streams open and sends oversize and garbage
pubsub RPC frames. bench/hostile.py's docstring has the details.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

DRIP_INTERVAL = 8.0
FLOOD = 60
SENT: dict[str, int] = {}  # in the attackers' process: what they did, reported at the end


def sent(what: str, count: int = 1) -> None:
    SENT[what] = SENT.get(what, 0) + count


def frame(body: bytes) -> bytes:
    from node.store import dagpb

    return dagpb.encode_varint(len(body)) + body


def wants(cids: list[bytes], want_type: int) -> bytes:
    from libp2p.bitswap.pb.bitswap_pb2 import Message

    msg = Message()
    for cid in cids:
        msg.wantlist.entries.add(block=cid, priority=1, wantType=want_type)
    return frame(msg.SerializeToString())


async def drip(stream: Any) -> None:
    import trio

    from node.store import dagpb
    from node.store.blockstream import STATUS_OK, StreamReader

    root = await StreamReader(stream).read_frame(128)
    sent("drip_requests_answered")
    await stream.write(bytes([STATUS_OK]))
    for byte in dagpb.encode_varint(len(root)) + root:
        await trio.sleep(DRIP_INTERVAL)
        await stream.write(bytes([byte]))
    await trio.sleep_forever()


async def announce_commitments(
    h1: Any, chain: Any, topic: str, latest: list[bytes], attacking: Any
) -> None:
    """H1: as soon as a commitment is on chain, announce H1 as its provider (once the
    attack is on); also remembers the latest update root for H2's want-blocks."""
    import trio

    from node.p2p.messages import Announcement, encode
    from node.store.cid import parse_cid_str

    announced: set[str] = set()
    while True:
        with contextlib.suppress(Exception):
            r = await trio.to_thread.run_sync(chain.current_round)
            commitments = await trio.to_thread.run_sync(chain.commitments, r) if r else {}
            for author, cid in commitments.items():
                latest[:] = [parse_cid_str(cid)]
                if attacking.is_set() and cid not in announced:
                    announced.add(cid)
                    fake = Announcement(r, author, cid, (h1.peer_id,))
                    await h1.publish(topic, encode(fake))
                    sent("provider_announcements")
        await trio.sleep(0.5)


async def bitswap_abuse(
    h2: Any, targets: list[Any], latest: list[bytes], delay: float = 0.0
) -> None:
    """H2: want-block bursts for one block, random want-haves and half frames (after
    ``delay`` seconds)."""
    import trio
    from libp2p.bitswap.config import BITSWAP_PROTOCOL_V120

    await trio.sleep(delay)
    from node.store import dagpb
    from node.store.cid import make_cid

    rng = random.Random(9)
    held: list[Any] = []
    while True:
        for target in targets:
            with contextlib.suppress(Exception):
                stream = await h2.host.new_stream(target, [BITSWAP_PROTOCOL_V120])
                if latest:
                    await stream.write(wants(latest * 800, want_type=0))
                    sent("want_block_bursts")
                randoms = [make_cid(0x55, rng.randbytes(32)) for _ in range(5000)]
                await stream.write(wants(randoms, want_type=1))
                half = await h2.host.new_stream(target, [BITSWAP_PROTOCOL_V120])
                await half.write(dagpb.encode_varint(1000) + b"\x0a" * 10)
                sent("half_frames")
                held.append(half)
        del held[: max(0, len(held) - 4 * len(targets))]
        await trio.sleep(1.0)


async def wants_unread(h2: Any, targets: list[Any], latest: list[bytes]) -> None:
    """H2: want-blocks for the latest update (a ~20 KB block) to each honest node ten
    times a second; with ``never_read`` the answers fill the yamux window and stall."""
    import trio
    from libp2p.bitswap.config import BITSWAP_PROTOCOL_V120

    streams: dict[Any, Any] = {}
    while True:
        for target in targets:
            with contextlib.suppress(Exception):
                if target not in streams:
                    streams[target] = await h2.host.new_stream(target, [BITSWAP_PROTOCOL_V120])
                if latest:
                    await streams[target].write(wants(latest[-1:], want_type=0))
                    sent("unread_wants")
                continue
            streams.pop(target, None)
        await trio.sleep(0.1)


def never_read(h2: Any) -> None:
    """H2 accepts the Bitswap streams the honest nodes open to answer its want-lists and
    never reads them: their sends stall on the yamux window (``send_stall``)."""
    import trio
    from libp2p.bitswap.config import (
        BITSWAP_PROTOCOL_V100,
        BITSWAP_PROTOCOL_V110,
        BITSWAP_PROTOCOL_V120,
    )

    async def hold(stream: Any) -> None:
        sent("streams_left_unread")
        await trio.sleep_forever()

    for proto in (BITSWAP_PROTOCOL_V100, BITSWAP_PROTOCOL_V110, BITSWAP_PROTOCOL_V120):
        h2.host.set_stream_handler(proto, hold)


async def stream_flood(u: Any, targets: list[Any]) -> None:
    """U: 60 idle fast-path streams to each honest node, topped up every 10 s."""
    import trio

    from node.store.blockstream import PROTOCOL

    held: list[Any] = []
    while True:
        held.clear()
        for target in targets:
            for _ in range(FLOOD):
                with contextlib.suppress(Exception):
                    held.append(await u.host.new_stream(target, [PROTOCOL]))
                    sent("idle_streams_opened")
        await trio.sleep(10.0)


async def gossip_garbage(u: Any, targets: list[Any], delay: float = 0.0) -> None:
    """U: an oversize and a garbage pubsub RPC frame to each honest node every 2 s, from
    ``delay`` seconds on."""
    import trio
    from libp2p.custom_types import TProtocol
    from libp2p.pubsub.gossipsub import PROTOCOL_ID_V12

    from node.store import dagpb

    oversize = dagpb.encode_varint(2 * 2**20) + b"\0" * 1024
    garbage = frame(b"\xff" * 64)
    await trio.sleep(delay)
    while True:
        for target in targets:
            for payload in (oversize, garbage):
                with contextlib.suppress(Exception):
                    stream = await u.host.new_stream(target, [TProtocol(PROTOCOL_ID_V12)])
                    await stream.write(payload)
                    sent("bad_pubsub_rpcs")
        await trio.sleep(2.0)
