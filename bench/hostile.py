"""An honest blob fetch with and without hostile peers around, on real hosts (first version).

Prints one JSON line:

* ``fetch_s_clean`` / ``fetch_s_attack``: median seconds for the fetcher F to get a
  fresh ``--size`` blob from its author A (``PeerNetwork.fetch_blob``, the node's path),
  ``--runs`` times each; ``ratio = attack / clean`` (goal <= 3).
* Under attack the providers F is given are [A, H1, H2], the node's order (author
  first); ``ratio_author_last`` is the worst case [H1, H2, A]. H1 and H2 are registered
  hostile peers that answer the fast-path request and then trickle one byte every
  8 s; H2 also sends A Bitswap messages of 800 want-blocks for one 256 KiB block and
  5000 random want-haves, and garbage pubsub frames; U, unregistered, keeps 60 idle
  fast-path streams open to A and to F.
* ``rss_growth_mb``: growth of the honest process's peak RSS (VmHWM) over the attack
  phase; A and F share that process (the attackers run in a child process), so it
  bounds each honest node's growth from above.
* ``counters``: what A and F refused or demoted.

Not yet: chain rounds (the issue's 4 honest + 2 registered hostile + 1 unregistered
nodes for >= 6 rounds with agreement and blacklist counts); this measures the
exchange alone.

Usage: python bench/hostile.py [--size BYTES] [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import trio
from libp2p.bitswap.config import BITSWAP_PROTOCOL_V120
from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.custom_types import TProtocol
from libp2p.network.stream.net_stream import INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V12

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.p2p.network import PeerNetwork, open_network  # noqa: E402
from node.store import dagpb  # noqa: E402
from node.store.blockstream import PROTOCOL, STATUS_OK, StreamReader  # noqa: E402
from node.store.cid import make_cid, parse_cid_str  # noqa: E402

DRIP_INTERVAL = 8.0
FLOOD = 60
TOPIC = "/fedchain/bench/updates/1"


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def drip(stream: INetStream) -> None:
    root = await StreamReader(stream).read_frame(128)
    await stream.write(bytes([STATUS_OK]))
    for byte in dagpb.encode_varint(len(root)) + root:
        await trio.sleep(DRIP_INTERVAL)
        await stream.write(bytes([byte]))
    await trio.sleep_forever()


def frame(body: bytes) -> bytes:
    return dagpb.encode_varint(len(body)) + body


def wants(cids: list[bytes], want_type: int) -> bytes:
    msg = Message()
    for cid in cids:
        msg.wantlist.entries.add(block=cid, priority=1, wantType=want_type)
    return frame(msg.SerializeToString())


async def flood_streams(attacker: PeerNetwork, target: ID) -> None:
    held = []
    for _ in range(FLOOD):
        with contextlib.suppress(Exception):
            held.append(await attacker.host.new_stream(target, [PROTOCOL]))
    await trio.sleep_forever()


async def want_bursts(attacker: PeerNetwork, target: ID, block_cid: bytes) -> None:
    rng = random.Random(9)
    while True:
        with contextlib.suppress(Exception):
            stream = await attacker.host.new_stream(target, [BITSWAP_PROTOCOL_V120])
            await stream.write(wants([block_cid] * 800, want_type=0))
            randoms = [make_cid(0x55, rng.randbytes(32)) for _ in range(5000)]
            await stream.write(wants(randoms, want_type=1))
            gossip = await attacker.host.new_stream(target, [TProtocol(PROTOCOL_ID_V12)])
            await gossip.write(frame(b"\xff" * 64))
        await trio.sleep(1.0)


async def timed_fetch(
    fetcher: PeerNetwork, author: PeerNetwork, providers: list[str], size: int, seed: int
) -> float:
    data = random.Random(seed).randbytes(size)
    cid = await author.add_blob(data)
    started = time.perf_counter()
    got = await fetcher.fetch_blob(cid, providers, timeout=120)
    elapsed = time.perf_counter() - started
    if got != data:
        raise SystemExit("error: fetched bytes differ from the blob; the exchange is broken")
    return elapsed


async def attackers(tmp: str, honest: dict[str, Any], conn: Connection) -> None:
    """H1, H2 (registered, hostile) and U (unregistered), in their own process."""
    async with AsyncExitStack() as stack:
        h1, h2, u = [
            await stack.enter_async_context(open_network(data_dir=Path(tmp) / name))
            for name in ("h1", "h2", "u")
        ]
        for hostile in (h1, h2):
            hostile.host.set_stream_handler(PROTOCOL, drip)
        for net in (h1, h2, u):
            for peer_id, addrs in honest.items():
                await net.connect(peer_id, addrs)
        conn.send([h1.peer_id, h2.peer_id, u.peer_id])
        a_id, f_id = (ID.from_base58(p) for p in honest)
        block_cid = conn.recv()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood_streams, u, a_id)
            nursery.start_soon(flood_streams, u, f_id)
            nursery.start_soon(want_bursts, h2, a_id, block_cid)
            await trio.to_thread.run_sync(conn.recv)  # until the main process is done
            nursery.cancel_scope.cancel()


def run_attackers(tmp: str, honest: dict[str, Any], conn: Connection) -> None:
    logging.disable(logging.WARNING)
    trio.run(attackers, tmp, honest, conn)


async def bench(size: int, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            registered: set[str] = set()
            a, f = [
                await stack.enter_async_context(
                    open_network(data_dir=Path(tmp) / name, is_registered=registered.__contains__)
                )
                for name in ("a", "f")
            ]
            registered.update({a.peer_id, f.peer_id})
            assert await f.connect(a.peer_id, a.listen_addrs())
            await a.subscribe(TOPIC)
            clean = [await timed_fetch(f, a, [a.peer_id], size, i) for i in range(runs)]

            honest = {a.peer_id: a.listen_addrs(), f.peer_id: f.listen_addrs()}
            ours, theirs = multiprocessing.get_context("spawn").Pipe()
            child = multiprocessing.get_context("spawn").Process(
                target=run_attackers, args=(tmp, honest, theirs), daemon=True
            )
            child.start()
            try:
                h1_id, h2_id, _ = await trio.to_thread.run_sync(ours.recv)
                registered.update({h1_id, h2_id})
                block = random.Random(99).randbytes(256 * 1024)
                ours.send(parse_cid_str(await a.add_blob(block)))
                await trio.sleep(2.0)
                rss_before = vm_hwm_mb()
                # as the node orders them: the author first, then announced providers
                first = [a.peer_id, h1_id, h2_id]
                attack = [await timed_fetch(f, a, first, size, 100 + i) for i in range(runs)]
                # worst case: the hostile ones first (an author that is slow or down)
                last = [h1_id, h2_id, a.peer_id]
                worst = [await timed_fetch(f, a, last, size, 200 + i) for i in range(runs)]
                growth = vm_hwm_mb() - rss_before
            finally:
                ours.send("stop")
                await trio.to_thread.run_sync(child.join, 10)
                if child.is_alive():
                    child.kill()
            keys = ("refused", "demoted", "rejected", "won", "transport", "peak_queued")
            counters = {
                f"{who}.{k}": v
                for who, net in (("a", a), ("f", f))
                for k, v in sorted(net.metrics.items())
                if any(key in k for key in keys)
            }
    clean_s, attack_s = statistics.median(clean), statistics.median(attack)
    return {
        "bench": "hostile",
        "size": size,
        "runs": runs,
        "fetch_s_clean": round(clean_s, 3),
        "fetch_s_attack": round(attack_s, 3),
        "ratio": round(attack_s / clean_s, 2),
        "fetch_s_attack_author_last": round(statistics.median(worst), 3),
        "ratio_author_last": round(statistics.median(worst) / clean_s, 2),
        "each_s": {
            "clean": [round(x, 3) for x in clean],
            "attack": [round(x, 3) for x in attack],
            "attack_author_last": [round(x, 3) for x in worst],
        },
        "rss_growth_mb": round(growth, 1),
        "counters": counters,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4 * 2**20, help="blob bytes (default 4 MiB)")
    parser.add_argument("--runs", type=int, default=3, help="fetches per phase (default 3)")
    args = parser.parse_args()
    if args.size < 1 or args.runs < 1:
        raise SystemExit("error: --size and --runs must be at least 1")
    print(json.dumps(trio.run(bench, args.size, args.runs)))


if __name__ == "__main__":
    main()
