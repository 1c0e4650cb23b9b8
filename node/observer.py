"""Rounds this node does not train in: drawn out of the round's committee (observe: the
finalized model's CID, the model fetched lazily), or missed while it was down (catch up:
the finalized model fetched)."""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from node.chain.client import RoundInfo, RoundStatus
from node.context import NodeContext
from node.learning.local import accuracy_of
from node.models import load_model
from node.record import new_record
from node.waits import round_settled, round_view

log = logging.getLogger(__name__)

# An observer reads the round when the chain watch sees it settle (a Finalized or
# RoundFailed log), else at most this long after its last read: a vote deadline passing
# mines no log, and a watch that polls over HTTP sees no logs at all.
OBSERVER_WAKE_S = 5.0


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
    """``selection`` of any round, read only. In a sampled round this node is selected
    exactly when it is in the committee's event (the contract's ``isSelected`` reads the
    same draw), so ``is_selected`` is read only for a round without a committee: one call
    less a node-round, N a round on the chain endpoint."""
    committee = await ctx.chain_port.committee(r)
    if committee is None:
        return await ctx.chain_port.is_selected(r), None
    me = ctx.address.lower()
    return any(member.lower() == me for member in committee), committee


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
    final = await settled(ctx, r)
    record = new_record(r, final.status)
    record.update(selected=False, committee=committee)
    if final.status is RoundStatus.FINALIZED:
        record["finalized_cid"] = await ctx.chain_port.latest_model_cid_of(r)
    record["timings"] = {"observe": round(time.monotonic() - started, 3)}
    ctx.metrics.inc("rounds_not_selected_total")  # with the record: status.json shows both
    ctx.state.finish(r, record)
    return record


async def settled(ctx: NodeContext, r: int) -> RoundInfo:
    """Round ``r`` once it finalized or failed (a round still open after its vote deadline
    is failed by this node's ``advance()``, as ``node.vote.settle`` does). Read once per
    settle event of the chain watch, or every ``OBSERVER_WAKE_S``: an observer noticed a
    finalization up to 5 s late, and started late in the next round when drawn into it."""
    while True:
        events = ctx.watch.events if ctx.watch is not None else 0
        info, now = await round_view(ctx, r)
        if round_settled(info, now):
            break
        if ctx.watch is None:
            await trio.sleep(OBSERVER_WAKE_S)
        else:
            await ctx.watch.wait_event(events, OBSERVER_WAKE_S)
    if info.status is RoundStatus.OPEN:
        await ctx.chain_port.advance()
        info = await ctx.chain_port.round_info(r)
    return info


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
