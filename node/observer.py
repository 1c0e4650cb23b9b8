"""Rounds this node does not train in: drawn out of the round's committee (observe), or
missed while it was down (catch up). Either way it only takes the finalized model."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from node.chain.client import RoundStatus
from node.context import NodeContext
from node.learning.local import accuracy_of
from node.models import load_model
from node.record import new_record
from node.vote import settle

log = logging.getLogger(__name__)

OBSERVER_WAKE_S = 5.0  # an observer reads the round this often (nothing waits on it)
MODEL_HOLDERS = 2  # members an observer asks first for the finalized model


async def selection(ctx: NodeContext, r: int) -> tuple[bool, list[str] | None]:
    """Whether this node may commit and vote in round ``r``, and the round's committee (in
    draw order, from the chain's ``CommitteeSelected`` event; None when the round was not
    sampled and every active participant takes part)."""
    selected = await ctx.chain_port.is_selected(r)
    return selected, await ctx.chain_port.committee(r)


async def observe(ctx: NodeContext, r: int, committee: list[str]) -> dict[str, Any]:
    """Round ``r`` drew a committee without this node: no training, commit, fetch or vote.
    Wait for the round to settle, then take its finalized model (one fetch) like a missed
    round's."""
    started = time.monotonic()
    phase = f"round {r}: not selected (committee of {len(committee)})"
    log.info("%s", phase)
    ctx.metrics.inc("rounds_not_selected_total")
    ctx.report(phase)
    final = await settle(ctx, r, every=OBSERVER_WAKE_S)
    record = new_record(r, final.status)
    record.update(selected=False, committee=committee)
    if final.status is RoundStatus.FINALIZED:
        cid = await ctx.chain_port.latest_model_cid_of(r)
        params = await load_model(ctx, cid, await model_holders(ctx, committee))
        record.update(finalized_cid=cid, accuracy=accuracy_of(ctx.task, params, ctx.test_data))
    record["timings"] = {"observe": round(time.monotonic() - started, 3)}
    ctx.state.finish(r, record)
    return record


async def model_holders(ctx: NodeContext, committee: Sequence[str]) -> list[str]:
    """Peer ids of ``MODEL_HOLDERS`` random committee members, who computed the finalized
    model: asked first for it (the fetch dials them), so the observers of a large round
    spread over the members instead of all asking (and dialling) every one of them."""
    chosen = random.sample(list(committee), min(MODEL_HOLDERS, len(committee)))
    peers = [await ctx.chain_port.participant(m) for m in chosen]
    return [p.peer_id for p in peers if p is not None]


async def catch_up(ctx: NodeContext, r: int) -> dict[str, Any]:
    """A round this node missed: fetch its finalized model (Bitswap) and record it."""
    info = await ctx.chain_port.round_info(r)
    record = new_record(r, info.status)
    selected, committee = await selection(ctx, r)
    record["selected"] = selected
    if committee is not None:
        record["committee"] = committee
    if not selected:
        ctx.metrics.inc("rounds_not_selected_total")  # as if observed: the same count
    if info.status is RoundStatus.FINALIZED:
        cid = await ctx.chain_port.latest_model_cid_of(r)
        params = await load_model(ctx, cid)
        record.update(finalized_cid=cid, accuracy=accuracy_of(ctx.task, params, ctx.test_data))
    log.info("round %d: missed; caught up on its outcome (%s)", r, record["status"])
    ctx.state.finish(r, record)
    return record
