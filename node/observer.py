"""Rounds this node does not train in: drawn out of the round's committee (observe: the
finalized model's CID, the model fetched lazily), or missed while it was down (catch up:
the finalized model fetched)."""

from __future__ import annotations

import logging
import time
from typing import Any

from node.chain.client import RoundStatus
from node.context import NodeContext
from node.learning.local import accuracy_of
from node.models import load_model
from node.record import new_record
from node.vote import settle

log = logging.getLogger(__name__)

OBSERVER_WAKE_S = 5.0  # an observer reads the round this often (nothing waits on it)


async def selection(ctx: NodeContext, r: int) -> tuple[bool, list[str] | None]:
    """Whether this node may commit and vote in the live round ``r``, and the round's
    committee (in draw order, from the chain's ``CommitteeSelected`` event; None when the
    round was not sampled and every active participant takes part). The node listens to
    announcements only while it takes part (node/announcements.py)."""
    selected, committee = await drawn(ctx, r)
    if ctx.announcements is not None:
        await ctx.announcements.follow(selected or committee is None)
    return selected, committee


async def drawn(ctx: NodeContext, r: int) -> tuple[bool, list[str] | None]:
    """``selection`` of any round, read only."""
    selected = await ctx.chain_port.is_selected(r)
    return selected, await ctx.chain_port.committee(r)


async def observe(ctx: NodeContext, r: int, committee: list[str]) -> dict[str, Any]:
    """Round ``r`` drew a committee without this node: no training, commit, fetch or vote.
    Wait for the round to settle and record its finalized model's CID. The model itself is
    fetched lazily, when this node is next drawn (it is that round's base) or an operator
    exports it: at 32 nodes and K = 8 the 24 observers' fetches and evaluations of every
    round's model cost more CPU than the members' work. Its accuracy is the members' (the
    same model on the same test split), so the record leaves it to them."""
    started = time.monotonic()
    phase = f"round {r}: not selected (committee of {len(committee)})"
    log.info("%s", phase)
    ctx.report(phase)
    final = await settle(ctx, r, every=OBSERVER_WAKE_S)
    record = new_record(r, final.status)
    record.update(selected=False, committee=committee)
    if final.status is RoundStatus.FINALIZED:
        record["finalized_cid"] = await ctx.chain_port.latest_model_cid_of(r)
    record["timings"] = {"observe": round(time.monotonic() - started, 3)}
    ctx.metrics.inc("rounds_not_selected_total")  # with the record: status.json shows both
    ctx.state.finish(r, record)
    return record


async def catch_up(ctx: NodeContext, r: int) -> dict[str, Any]:
    """A round this node missed: fetch its finalized model (Bitswap) and record it."""
    info = await ctx.chain_port.round_info(r)
    record = new_record(r, info.status)
    selected, committee = await drawn(ctx, r)
    record["selected"] = selected
    if committee is not None:
        record["committee"] = committee
    if info.status is RoundStatus.FINALIZED:
        cid = await ctx.chain_port.latest_model_cid_of(r)
        params = await load_model(ctx, cid)
        record.update(finalized_cid=cid, accuracy=accuracy_of(ctx.task, params, ctx.test_data))
    log.info("round %d: missed; caught up on its outcome (%s)", r, record["status"])
    if not selected:
        ctx.metrics.inc("rounds_not_selected_total")  # as if observed: the same count
    ctx.state.finish(r, record)
    return record
