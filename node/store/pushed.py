"""Update blobs their authors pushed inline on the announcement topic, held in memory.

A small update rides its author's announcement (``node/p2p/messages.py``, kind ``push``)
so that the round's members verify it without a fetch: no stream to open, no Bitswap.
What a peer can make a node hold here is bounded: one blob per (round, author), at most
``MAX_HELD_BYTES`` in all, each keyed by the CID it hashes to (recomputed here, never
taken from the message), and a round's blobs are dropped once its exchange is done
(``discard_through``). The gossip layer forwards at most ``SIGNER_PUSHES_PER_ROUND``
pushes per signer and round (``gate``), so a registered peer cannot flood the topic with
valid-looking blobs either. A pushed blob is only ever a faster source of bytes: the
exchange still checks it against the committed CID and verifies it like a fetched one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import trio

from node.metrics import Metrics
from node.store.cid import compute_cid

MAX_HELD_BYTES = 32 * 2**20
# How long a fetch waits for a push it expects before it starts: gossip delivers in well
# under a second, and a push that misses the mesh comes with the next heartbeats' gossip.
PUSH_GRACE_S = 1.0
SIGNER_PUSHES_PER_ROUND = 2  # an honest author pushes once a round (again after a restart)


class PushedBlobs:
    """Pushed blobs by CID, with waiters for the ones not arrived yet."""

    def __init__(self, max_bytes: int = MAX_HELD_BYTES) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._blobs: dict[str, tuple[int, bytes]] = {}  # cid -> (round, blob)
        # pushes whose signer is being checked against the registry: a fetch of the
        # committed CID may use them meanwhile (the bytes are what was committed)
        self._pending: dict[str, bytes] = {}
        self._slots: dict[tuple[int, str], str] = {}  # (round, author) -> cid
        self._arrived: dict[str, tuple[int, trio.Event]] = {}  # cid -> (round, event)
        self._pushes: Counter[tuple[str, int]] = Counter()  # (signer, round) -> forwarded
        self.sent: dict[str, int] = {}  # CID -> round, of the blobs this node pushed itself
        self.peers: dict[str, str] = {}  # author address (lower case) -> registered peer id
        # whether the members' updates come pushed: set by a held push, or by this node's
        # own update (the members train the same model with the same codec)
        self.expect_pushes = False

    def gate(self, signer: str, r: int) -> str | None:
        """Whether the gossip layer may accept and forward one more push of ``signer``
        for round ``r``: a rejection reason, or None (and the push is counted)."""
        if self._pushes[signer, r] >= SIGNER_PUSHES_PER_ROUND:
            return "push_limit"
        self._pushes[signer, r] += 1
        return None

    def add(self, r: int, author: str, blob: bytes) -> str | None:
        """Hold ``author``'s blob of round ``r``; a rejection reason, or None if held (or
        held already)."""
        cid = compute_cid(blob)
        if cid in self._blobs:
            return None
        slot = (r, author.lower())
        if slot in self._slots:
            return "push_limit"
        if self.held_bytes + len(blob) > self.max_bytes:
            return "push_cache_full"
        self._blobs[cid] = (r, blob)
        self._slots[slot] = cid
        self.held_bytes += len(blob)
        self.expect_pushes = True
        self._wake(cid)
        return None

    def hold_pending(self, blob: bytes) -> str:
        """Offer ``blob`` to fetches of its CID while its signer is checked; its CID.
        Counted in the byte bound (over it, nothing is offered)."""
        cid = compute_cid(blob)
        if cid in self._blobs or cid in self._pending:
            return cid
        if self.held_bytes + len(blob) <= self.max_bytes:
            self._pending[cid] = blob
            self.held_bytes += len(blob)
            self._wake(cid)
        return cid

    def drop_pending(self, cid: str) -> None:
        blob = self._pending.pop(cid, None)
        if blob is not None:
            self.held_bytes -= len(blob)

    def get(self, cid: str) -> bytes | None:
        held = self._blobs.get(cid)
        return held[1] if held is not None else self._pending.get(cid)

    def _wake(self, cid: str) -> None:
        waiting = self._arrived.get(cid)
        if waiting is not None:
            waiting[1].set()

    async def wait(self, r: int, cid: str) -> bytes:
        """``cid``'s blob once it is pushed (as round ``r``'s update)."""
        while (blob := self.get(cid)) is None:
            if cid not in self._arrived:
                self._arrived[cid] = (r, trio.Event())
            await self._arrived[cid][1].wait()
        return blob

    def discard_through(self, r: int) -> None:
        """Forget rounds up to ``r`` (their exchange is done)."""
        for cid, (rnd, blob) in list(self._blobs.items()):
            if rnd <= r:
                del self._blobs[cid]
                self.held_bytes -= len(blob)
        self.sent = {cid: rnd for cid, rnd in self.sent.items() if rnd > r}
        self._slots = {slot: cid for slot, cid in self._slots.items() if slot[0] > r}
        self._arrived = {c: w for c, w in self._arrived.items() if w[0] > r}
        self._pushes = Counter({k: n for k, n in self._pushes.items() if k[1] > r})

    def __len__(self) -> int:
        return len(self._blobs)


async def pushed_or_fetched(
    pushed: PushedBlobs,
    r: int,
    cid: str,
    fetch: Callable[[], Awaitable[bytes]],
    metrics: Metrics,
    grace: float = 0.0,
) -> tuple[bytes, bool]:
    """``cid``'s blob: the pushed one if held, else whichever comes first of its push and
    ``fetch()`` started after ``grace`` seconds (the other is cancelled). Returns (blob,
    whether it was pushed)."""
    blob = pushed.get(cid)
    if blob is not None:
        metrics.inc("updates_pushed_total", how="held")
        return blob, True
    winner: list[tuple[bytes, bool]] = []
    failed: list[Exception] = []  # re-raised as is, never inside an exception group

    async def push() -> None:
        winner.append((await pushed.wait(r, cid), True))
        nursery.cancel_scope.cancel()

    async def fetched() -> None:
        await trio.sleep(grace)
        try:
            winner.append((await fetch(), False))
        except Exception as exc:  # noqa: BLE001 - handed to the caller below
            failed.append(exc)
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(push)
        nursery.start_soon(fetched)
    if winner:
        if winner[0][1]:
            metrics.inc("updates_pushed_total", how="raced")
        return winner[0]
    raise failed[0]
