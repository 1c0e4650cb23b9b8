"""The pushed-blob cache (node/store/pushed.py) and the checks around it
(node/announcements.py): bounded per (round, author) and in bytes, keyed by the CID the
blob hashes to, held only from the author's registered peer, dropped with its round; a
fetch of a committed CID uses a held push or races an arriving one against the fetch."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from node.announcements import accept_push, admit, push_or_announce, relayed
from node.errors import NetworkError
from node.metrics import Metrics
from node.p2p.messages import MAX_INLINE_BLOB, Announcement, Push, decode, encode
from node.store.cid import compute_cid
from node.store.pushed import SIGNER_PUSHES_PER_ROUND, PushedBlobs, pushed_or_fetched
from tests.unit.round_fixtures import inline_port

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
PEER_A, PEER_B = "peerA", "peerB"


def run(fn: Any) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_one_blob_per_author_and_round_keyed_by_its_hash() -> None:
    held = PushedBlobs()
    assert held.add(1, A, b"first") is None
    assert held.get(compute_cid(b"first")) == b"first"
    assert held.add(1, A, b"first") is None  # the same blob again: nothing new
    assert held.add(1, A.upper().replace("0X", "0x"), b"second") == "push_limit"
    assert held.add(2, A, b"second") is None  # the next round has its own slot
    assert held.add(1, B, b"third") is None
    assert len(held) == 3 and held.held_bytes == len(b"firstsecondthird")


def test_total_bytes_are_bounded_and_rounds_are_dropped_when_done() -> None:
    held = PushedBlobs(max_bytes=10)
    assert held.add(1, A, b"123456") is None
    assert held.add(1, B, b"123456789") == "push_cache_full"
    assert held.add(2, B, b"1234") is None
    held.discard_through(1)
    assert held.get(compute_cid(b"123456")) is None and held.held_bytes == 4
    assert held.add(1, B, b"123456") is None  # room again (the gossip window bounds rounds)


def test_the_gossip_gate_forwards_a_few_pushes_per_signer_and_round() -> None:
    held = PushedBlobs()
    assert all(held.gate(PEER_A, 1) is None for _ in range(SIGNER_PUSHES_PER_ROUND))
    assert held.gate(PEER_A, 1) == "push_limit"
    assert held.gate(PEER_A, 2) is None and held.gate(PEER_B, 1) is None
    held.discard_through(1)
    assert held.gate(PEER_A, 1) is None


def test_nothing_on_the_announcement_topic_is_relayed() -> None:
    """Authors flood-publish to the members they are connected to (the committee dials
    its members): a relayed push or announcement mostly reached members that had it."""
    cid = compute_cid(b"update")
    for msg in (
        Announcement(round=1, author="0x" + "a" * 40, cid=cid),
        Push(round=1, author="0x" + "a" * 40, cid=cid, blob=b"update"),
    ):
        assert relayed(decode(encode(msg))) is False


@dataclass
class Registry:
    peers: dict[str, str]
    reads: int = 0
    deployment: Any = None

    def participant(self, address: str) -> Any:
        self.reads += 1
        peer = self.peers.get(address)
        return SimpleNamespace(peer_id=peer, active=True) if peer else None


@dataclass
class Ctx:
    chain: Registry
    pushed: PushedBlobs = field(default_factory=PushedBlobs)
    metrics: Metrics = field(default_factory=Metrics)
    committee_peers: dict[str, Any] = field(default_factory=dict)

    @property
    def chain_port(self) -> Any:
        return inline_port(self.chain)


def push(author: str, blob: bytes, r: int = 1) -> Push:
    return Push(round=r, author=author, cid=compute_cid(blob), blob=blob)


def test_a_push_is_held_only_from_its_authors_registered_peer() -> None:
    ctx = Ctx(Registry({A: PEER_A, B: PEER_B}))
    run(lambda: accept_push(ctx, PEER_B, push(A, b"forged")))  # B pushes in A's name
    run(lambda: accept_push(ctx, PEER_A, push(A, b"honest")))
    run(lambda: accept_push(ctx, PEER_A, push(A, b"second")))  # A's slot is taken
    assert ctx.pushed.get(compute_cid(b"forged")) is None
    assert ctx.pushed.get(compute_cid(b"honest")) == b"honest"
    assert ctx.metrics.get("pushes_rejected_total", reason="not_author") == 1
    assert ctx.metrics.get("pushes_rejected_total", reason="push_limit") == 1
    assert ctx.metrics.get("pushes_held_total") == 1
    # the registry was read once for A (then known), and gossip now drops forgeries
    assert ctx.chain.reads == 1
    assert admit(ctx, PEER_B, push(A, b"forged again")) == "not_author"  # type: ignore[arg-type]
    assert admit(ctx, PEER_A, push(A, b"x", r=2)) is None  # type: ignore[arg-type]
    ann = Announcement(round=1, author=A, cid=compute_cid(b"x"))
    assert admit(ctx, PEER_B, ann) is None  # type: ignore[arg-type]  # anyone may announce


def test_an_unregistered_author_is_never_held() -> None:
    ctx = Ctx(Registry({}))
    run(lambda: accept_push(ctx, PEER_A, push(A, b"blob")))
    assert len(ctx.pushed) == 0
    assert ctx.metrics.get("pushes_rejected_total", reason="not_author") == 1


@pytest.mark.parametrize(
    ("push_at", "fetch_takes", "pushed"), [(1.0, 3.0, True), (5.0, 2.0, False)]
)
def test_a_fetch_races_an_arriving_push_and_the_first_wins(
    push_at: float, fetch_takes: float, pushed: bool
) -> None:
    held, metrics = PushedBlobs(), Metrics()
    cid = compute_cid(b"update")
    fetch_ended: list[str] = []

    async def fetch() -> bytes:
        try:
            await trio.sleep(fetch_takes)
        except trio.Cancelled:
            fetch_ended.append("cancelled")
            raise
        fetch_ended.append("done")
        return b"update"

    async def main() -> tuple[bytes, bool, float]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: trio.sleep(push_at))
            result: list[Any] = []

            async def race() -> None:
                result.extend(await pushed_or_fetched(held, 1, cid, fetch, metrics))

            nursery.start_soon(race)
            await trio.sleep(push_at)
            held.add(1, A, b"update")
        return result[0], result[1], trio.current_time()

    blob, was_pushed, _ = run(main)
    assert blob == b"update" and was_pushed is pushed
    assert fetch_ended == ["cancelled" if pushed else "done"]
    assert metrics.get("updates_pushed_total", how="raced") == (1 if pushed else 0)
    # held before the fetch starts: no fetch at all
    assert run(lambda: pushed_or_fetched(held, 1, cid, fetch, metrics))[1] is True
    assert metrics.get("updates_pushed_total", how="held") == 1


def test_a_push_being_checked_is_offered_to_a_waiting_fetch_then_dropped() -> None:
    """While its signer is read from the registry, a push may serve a fetch of its CID (a
    committed CID: the bytes are what the author committed, whoever relayed them); then it
    is held only if the signer is the author."""
    held = PushedBlobs(max_bytes=10)
    cid = compute_cid(b"update")

    async def main() -> bytes:
        async with trio.open_nursery() as nursery:
            got: list[bytes] = []

            async def waiter() -> None:
                got.append(await held.wait(1, cid))

            nursery.start_soon(waiter)
            await trio.sleep(1)
            assert held.hold_pending(b"update") == cid
        return got[0]

    assert run(main) == b"update" and held.held_bytes == 6
    assert held.hold_pending(b"too big!") != cid and held.held_bytes == 6  # over the bound
    held.drop_pending(cid)
    assert held.get(cid) is None and held.held_bytes == 0 and len(held) == 0


def test_an_expected_push_gets_a_head_start_over_the_fetch() -> None:
    """A member whose own update was pushed expects the others' pushed too: its fetch
    starts only after the grace, and a push within it means no fetch at all."""
    held, metrics = PushedBlobs(), Metrics()
    cid = compute_cid(b"update")
    fetches: list[float] = []

    async def fetch() -> bytes:
        fetches.append(trio.current_time())
        await trio.sleep(0.1)
        return b"update"

    async def main(push_at: float) -> tuple[bytes, bool]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: trio.sleep(push_at))
            result: list[Any] = []

            async def race() -> None:
                result.extend(await pushed_or_fetched(held, 1, cid, fetch, metrics, grace=1.0))

            nursery.start_soon(race)
            await trio.sleep(push_at)
            held.add(1, A, b"update")
        return result[0], result[1]

    assert run(lambda: main(0.9)) == (b"update", True) and fetches == []
    held.discard_through(1)
    assert run(lambda: main(5.0)) == (b"update", False) and fetches == [1.0]


@dataclass
class Net:
    peer_id: str = "12D3KooWAiUTb2D5YbYR8Zey2v1MBfwSDQCsGsBpbz2jGXGU6m1v"
    published: list[Any] = field(default_factory=list)
    fail: bool = False

    async def publish(self, topic: str, data: bytes) -> None:
        if self.fail:
            raise NetworkError("test: not sent")
        self.published.append(decode(data))

    async def get_local_blob(self, cid: str) -> bytes | None:
        return None


@pytest.mark.parametrize(
    ("size", "limit", "kind"),
    [(100, MAX_INLINE_BLOB, "push"), (MAX_INLINE_BLOB + 1, MAX_INLINE_BLOB, "announce"),
     (100, 0, "announce")],
)  # fmt: skip
def test_an_author_pushes_a_small_update_once_and_announces_a_big_one(
    size: int, limit: int, kind: str
) -> None:
    net = Net()
    ctx = SimpleNamespace(
        net=net, pushed=PushedBlobs(), metrics=Metrics(), address=A, topic="t",
        cfg=SimpleNamespace(push_max_bytes=limit),
    )  # fmt: skip
    blob = b"u" * size
    cid = compute_cid(blob)
    run(lambda: push_or_announce(ctx, 1, cid, blob))  # type: ignore[arg-type]
    run(lambda: push_or_announce(ctx, 1, cid, blob))  # type: ignore[arg-type]
    assert [m.kind for m in net.published] == [kind] * (1 if kind == "push" else 2)
    assert ctx.pushed.expect_pushes is (kind == "push")
    net.fail, net.published = True, []
    other = compute_cid(b"other")
    run(lambda: push_or_announce(ctx, 2, other, b"other"))  # type: ignore[arg-type]
    assert other not in ctx.pushed.sent  # not sent: announced again from the exchange
