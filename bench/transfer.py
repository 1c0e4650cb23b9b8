"""Content-layer transfer speed against raw libp2p streams, measured side by side.

Prints one JSON line:

* ``raw_mib_s[size]``: one libp2p stream (TCP + Noise + yamux) between two hosts on
  loopback carrying ``size`` bytes: the baseline.
* ``content_mib_s[size]``: ``fetch_blob`` of a ``size``-byte blob between the same kind
  of hosts (fedchain's exchange: ``/fedchain/blocks/1`` first, every block verified
  and stored, DAG checked); ``ratio[size] = content / raw``.
* ``bitswap_ratio_8mib``: the same fetch forced over Bitswap only, for comparison.
* ``fanout``: 8 nodes, each fetching the other 7 nodes' 4 MiB updates at once, against
  the same 56 transfers over raw streams at once (``ratio = raw_time / content_time``).
* ``peak_rss_32mib``: in a separate process, the peak RSS growth while fetching a
  32 MiB blob (VmHWM after the fetch minus VmRSS before it, peak reset first), and
  that growth as a multiple of the blob size (goal <= 3).

Usage: python bench/transfer.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.net_stream import INetStream

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.p2p.network import PeerNetwork, open_network  # noqa: E402

MIB = 2**20
RAW = TProtocol("/fedchain-bench/raw/1")
WRITE = 256 * 1024


async def _serve_raw(stream: INetStream) -> None:
    size = int.from_bytes(await stream.read(8), "big")
    payload = random.Random(size).randbytes(WRITE)
    sent = 0
    while sent < size:
        n = min(WRITE, size - sent)
        await stream.write(payload[:n])
        sent += n
    await stream.close()


def enable_raw(net: PeerNetwork) -> None:
    net.host.set_stream_handler(RAW, _serve_raw)


async def raw_transfer(client: PeerNetwork, server: PeerNetwork, size: int) -> None:
    from libp2p.peer.id import ID

    stream = await client.host.new_stream(ID.from_base58(server.peer_id), [RAW])
    await stream.write(size.to_bytes(8, "big"))
    got = 0
    while got < size:
        data = await stream.read(WRITE)
        if not data:
            raise RuntimeError("raw stream closed early")
        got += len(data)
    await stream.close()


async def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def pair_bench(root: Path, sizes: list[int], reps: int) -> dict:
    out: dict = {"raw_mib_s": {}, "content_mib_s": {}, "ratio": {}, "bitswap_fallbacks": 0}
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_network(data_dir=root / "a"))
        enable_raw(a)
        for size in sizes:
            label = f"{size // MIB}MiB"
            # a fresh fetching node per repetition, so nothing is local yet
            raw_times: list[float] = []
            content_times: list[float] = []
            for rep in range(reps):
                data = random.Random(size * 100 + rep).randbytes(size)
                cid = await a.add_blob(data)
                async with open_network(data_dir=root / f"b-{size}-{rep}") as b:
                    assert await b.connect(a.peer_id, a.listen_addrs())
                    raw_times.append(await timed(lambda b=b, n=size: raw_transfer(b, a, n)))

                    async def fetch(b: PeerNetwork = b, cid: str = cid, n: int = size) -> None:
                        got = await b.fetch_blob(cid, [a.peer_id], timeout=300)
                        assert len(got) == n

                    content_times.append(await timed(fetch))
                    out["bitswap_fallbacks"] += b.metrics["fetch.bitswap"]
            raw = size / MIB / statistics.median(raw_times)
            content = size / MIB / statistics.median(content_times)
            out["raw_mib_s"][label] = round(raw, 1)
            out["content_mib_s"][label] = round(content, 1)
            out["ratio"][label] = round(content / raw, 2)

        progress("pairs measured")
        # Bitswap alone at 8 MiB, for comparison with the stream protocol
        size = 8 * MIB
        data = random.Random(77).randbytes(size)
        cid = await a.add_blob(data)
        async with open_network(data_dir=root / "bitswap") as b:
            assert await b.connect(a.peer_id, a.listen_addrs())
            raw_t = await timed(lambda: raw_transfer(b, a, size))
            exchange = b._exchange
            from libp2p.peer.id import ID

            from node.store.cid import parse_cid_str

            async def bitswap_fetch() -> None:
                await exchange._fetch_bitswap(
                    parse_cid_str(cid), [ID.from_base58(a.peer_id)], 300, {"blocks": 0}
                )

            with trio.move_on_after(120) as scope:
                bs_t = await timed(bitswap_fetch)
            out["bitswap_ratio_8mib"] = None if scope.cancelled_caught else round(raw_t / bs_t, 2)
    return out


async def fanout_bench(root: Path, n: int, size: int) -> dict:
    async with AsyncExitStack() as stack:
        nets = [
            await stack.enter_async_context(open_network(data_dir=root / f"f{i}")) for i in range(n)
        ]
        for net in nets:
            enable_raw(net)
        for i, x in enumerate(nets):
            for y in nets[i + 1 :]:
                assert await x.connect(y.peer_id, y.listen_addrs())
        cids = [await net.add_blob(random.Random(i).randbytes(size)) for i, net in enumerate(nets)]

        async def all_raw() -> None:
            async with trio.open_nursery() as nursery:
                for x in nets:
                    for y in nets:
                        if x is not y:
                            nursery.start_soon(raw_transfer, x, y, size)

        async def all_content() -> None:
            async def one(x: PeerNetwork, j: int) -> None:
                got = await x.fetch_blob(cids[j], [nets[j].peer_id], timeout=600)
                assert len(got) == size

            async with trio.open_nursery() as nursery:
                for x in nets:
                    for j, y in enumerate(nets):
                        if x is not y:
                            nursery.start_soon(one, x, j)

        raw_t = await timed(all_raw)
        content_t = await timed(all_content)
    total = n * (n - 1) * size
    return {
        "nodes": n,
        "blob_mib": size // MIB,
        "total_mib": total // MIB,
        "raw_s": round(raw_t, 2),
        "content_s": round(content_t, 2),
        "ratio": round(raw_t / content_t, 2),
    }


# -- peak RSS, in a child process -----------------------------------------------------


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


async def rss_child(peer: str, addr: str, cid: str, data_dir: Path) -> None:
    async with open_network(data_dir=data_dir) as net:
        assert await net.connect(peer, [addr])
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status("VmRSS")
        got = await net.fetch_blob(cid, [peer], timeout=300)
        peak = _status("VmHWM")
        print(json.dumps({"bytes": len(got), "before": before, "peak": peak}))


async def rss_bench(root: Path, size: int) -> dict:
    async with open_network(data_dir=root / "rss-server") as a:
        cid = await a.add_blob(random.Random(3).randbytes(size))
        args = [sys.executable, __file__, "--rss-child", a.peer_id, a.listen_addrs()[0], cid]
        result = await trio.run_process(
            [*args, str(root / "rss-client")], capture_stdout=True, check=True
        )
    row = json.loads(result.stdout.decode().strip().splitlines()[-1])
    growth = row["peak"] - row["before"]
    return {
        "blob_mib": size // MIB,
        "rss_before_mib": round(row["before"] / MIB, 1),
        "peak_growth_mib": round(growth / MIB, 1),
        "growth_x_blob": round(growth / size, 2),
    }


def progress(text: str) -> None:
    print(f"transfer: {text}", file=sys.stderr, flush=True)


async def main(quick: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="fedchain-bench-") as tmp:
        root = Path(tmp)
        sizes = [1 * MIB, 8 * MIB, 32 * MIB]
        result: dict = {"bench": "transfer", "cpus": os.cpu_count()}
        result.update(await pair_bench(root, sizes, reps=1 if quick else 3))
        progress("pair done")
        result["fanout"] = await fanout_bench(root, 8, 4 * MIB)
        progress("fan-out done")
        result["peak_rss_32mib"] = await rss_bench(root, 32 * MIB)
        result["goal_met"] = (
            result["ratio"]["8MiB"] >= 0.5
            and result["ratio"]["32MiB"] >= 0.5
            and result["peak_rss_32mib"]["growth_x_blob"] <= 3
        )
        return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        peer, addr, cid, data_dir = sys.argv[2:6]
        trio.run(rss_child, peer, addr, cid, Path(data_dir))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition per size")
    opts = parser.parse_args()
    print(json.dumps(trio.run(main, opts.quick), sort_keys=True))
