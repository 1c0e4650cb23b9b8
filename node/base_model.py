"""A round's base model for a member that lacks it, and how long getting it took.

At 32 nodes and K = 8 most of a round's members observed the round before (observers
fetch models lazily: node/observer.py), so they get the base at round start, inside the
train_commit lap; the last member's commit closes the window for everyone, so this fetch
sits on every round's critical path.

The holders are round ``r - 1``'s members, who computed the base. A fetch from an
unconnected holder waits for a dial first (TCP, Noise, yamux: seconds on a busy machine;
``PeerNetwork.fetch_blob`` dials every unconnected provider it is given before racing),
so the members this node is already connected to are asked, and only when it is connected
to none, ``MODEL_HOLDERS`` random ones. Peer ids come from peer discovery's registry cache
(``ctx.peer_ids``) and the member list from this node's own record of round ``r - 1``:
no chain reads in the common case. Whatever the source, the bytes are checked against
the base CID the chain recorded.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Collection, Mapping, Sequence

import trio

from node.context import NodeContext
from node.models import load_model
from node.update.fixedpoint import FixedParams

log = logging.getLogger(__name__)

MODEL_HOLDERS = 2  # unconnected members asked when no connected one holds the base
CONNECTED_HOLDERS = 3  # connected members asked first (the fetch races up to 3 at once)


async def round_base(
    ctx: NodeContext, r: int, base_cid: str, committee: Sequence[str] | None
) -> tuple[FixedParams, float | None]:
    """Round ``r``'s base model (``base_cid``), and the seconds it took to fetch it from
    peers (None when the local store held it)."""
    if ctx.blobs.has(base_cid):
        return await load_model(ctx, base_cid), None
    started = time.monotonic()
    previous = await previous_members(ctx, r)
    holders = pick_holders(previous, ctx.peer_ids, ctx.net.connected_peers(), random.Random())
    if previous and not holders:  # the registry cache lacks them all: read two entries
        entries = [await ctx.chain_port.participant(m) for m in previous[:MODEL_HOLDERS]]
        holders = [p.peer_id for p in entries if p is not None]
    base = await load_model(ctx, base_cid, holders)
    seconds = round(time.monotonic() - started, 3)
    ctx.metrics.inc("base_fetches_total")
    ctx.metrics.inc("base_fetch_seconds_total", seconds)
    log.info(
        "round %d: base model fetched in %.2fs (asked %d of round %d's %d members first)",
        r, seconds, len(holders), r - 1, len(previous),
    )  # fmt: skip
    return base, seconds


class BaseFetch:
    """``round_base`` in the background, so that the round's other reads before training
    (the commit's checks, the staleness base) do not wait for a fetch from peers: at 32
    nodes, K = 8, three members in four fetch the base at round start (observers fetch
    models lazily) and the last member's commit closes the window for everyone."""

    def __init__(self) -> None:
        self._done = trio.Event()
        self.base: FixedParams | None = None
        self.seconds: float | None = None

    async def run(
        self, ctx: NodeContext, r: int, base_cid: str, committee: Sequence[str] | None
    ) -> None:
        self.base, self.seconds = await round_base(ctx, r, base_cid, committee)
        self._done.set()

    async def ready(self) -> None:
        """Until the base is in the local store (a failed fetch raises in ``run``)."""
        await self._done.wait()

    def result(self) -> tuple[FixedParams, float | None]:
        if self.base is None:
            raise RuntimeError("the round's base was not fetched")
        return self.base, self.seconds


async def previous_members(ctx: NodeContext, r: int) -> list[str]:
    """Round ``r - 1``'s committee: from this node's record of it, else the chain."""
    if r < 2:
        return []
    raw = ctx.state.get(r - 1).record
    members = json.loads(raw).get("committee") if raw else None
    if members is None:
        members = await ctx.chain_port.committee(r - 1)
    return list(members or [])


def pick_holders(
    members: Sequence[str],
    peer_ids: Mapping[str, str],
    connected: Collection[str],
    rng: random.Random,
) -> list[str]:
    """Peer ids to ask first for a model ``members`` computed: up to ``CONNECTED_HOLDERS``
    of those already connected, else ``MODEL_HOLDERS`` of the others (random, so that the
    members of a large round are not all asked by everyone); [] if none has a known peer
    id. Any other connected peer is asked after them (``load_model``)."""
    known = sorted({peer_ids[m.lower()] for m in members if m.lower() in peer_ids})
    near = [p for p in known if p in connected]
    if near:
        return rng.sample(near, min(CONNECTED_HOLDERS, len(near)))
    return rng.sample(known, min(MODEL_HOLDERS, len(known)))
