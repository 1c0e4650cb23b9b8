"""Vote and settle: this node's outcome sent until the chain shows it, and the slash list."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

import trio

from node.chain.client import RoundInfo, RoundStatus
from node.chain.errors import ChainUnreachable
from node.commit import count_gas, lost
from node.context import NodeContext
from node.errors import ChainError, Rejection
from node.faults import crash_point
from node.learning.local import accuracy_of
from node.slashing import slash_list
from node.update.fixedpoint import FixedParams
from node.waits import RoundRewound, round_settled, round_view, wait_until

log = logging.getLogger(__name__)

Outcome = tuple[str, bytes, list[str]]  # (model CID, reward root, slash list)


def offenders(rejected: Mapping[str, str]) -> list[str]:
    """Authors whose committed update was rejected for any reason but "unavailable": known
    Byzantine (an honest node never sends an invalid update), the same on every honest
    node since every node runs the same checks on the same committed bytes."""
    return sorted(a for a, why in rejected.items() if Rejection(why).proves_malice)


async def evaluate_outcome(ctx: NodeContext, model: FixedParams) -> float:
    """This node's accuracy of the model it votes for (the vote carries it: the chain's
    stop rule), on a worker thread: the trio thread serves peers and the chain meanwhile."""
    return await trio.to_thread.run_sync(partial(accuracy_of, ctx.task, model, ctx.test_data))


async def choose_slash(ctx: NodeContext, r: int, rejected: Mapping[str, str]) -> list[str]:
    """Round ``r``'s slash list: the offenders, at most the contract's ``MAX_SLASH`` of
    them (by stake at opening, then a per-round hash: see node/slashing.py)."""
    bad = offenders(rejected)
    if not bad:
        return []
    cap = await ctx.chain_port.max_slash()
    if len(bad) <= cap:  # stakes only decide who is left out
        return slash_list(dict.fromkeys(bad, 0), r, cap)
    stakes = {a: await ctx.chain_port.stake_at_open(r, a) for a in bad}
    return slash_list(stakes, r, cap)


async def vote(
    ctx: NodeContext, r: int, model_cid: str, root: bytes, slash: list[str], metric_bps: int = 0
) -> None:
    """Submit this node's outcome until the chain shows the vote or the vote window closes.
    ``metric_bps``: this node's evaluation of the outcome's model (the stop rule reads the
    winning voters' stake-weighted mean).

    Only the chain marks the vote done in the journal (a successful receipt, or
    ``hasVoted``): a send that failed because the RPC endpoint was down is read back and
    sent again while the window is open.
    """
    chain = ctx.chain_port
    # nothing sent before (no intent journaled): no vote of ours to look for on chain yet
    resend = ctx.state.get(r).reward_root is not None
    ctx.state.update(r, model_cid=model_cid, reward_root=root.hex())
    crash_point("vote_intent", r)
    while True:
        if resend and await chain.has_voted(r):
            ctx.state.update(r, voted=True)
            return
        resend = True
        info, now = await round_view(ctx, r)  # one batched read
        if not info.vote_open(now):
            if info.commit_open(now):  # not closed yet again: see RoundRewound
                raise RoundRewound(r)
            ctx.metrics.inc("votes_missed_total")
            log.warning("round %d: the vote window closed before our vote reached the chain", r)
            return
        try:
            receipt = await chain.submit_outcome(r, model_cid, root, slash, metric_bps)
        except ChainUnreachable:
            log.info("round %d: vote not confirmed (RPC down): reading the chain back", r)
            continue
        except ChainError as exc:
            if await chain.has_voted(r):
                continue  # an earlier send that failed in transport reached the chain
            # Too late: the round finalized and the next one opened. The outcome still
            # decides what this node records and claims, so carry on without a vote.
            ctx.metrics.inc("votes_rejected_total")
            log.warning("round %d: vote not counted: %s", r, exc)
            return
        count_gas(ctx, "submit_outcome", receipt)
        crash_point("voted", r)
        ctx.state.update(r, voted=True)  # a successful receipt: the chain shows the vote
        log.info("round %d: voted model %s", r, model_cid)
        return


async def keep_vote(
    ctx: NodeContext,
    r: int,
    info: RoundInfo,
    now: int,
    outcome: Outcome,
    metric_bps: int = 0,
) -> None:
    """While the vote window is open, send our vote again if the chain lost it; if the
    chain is back in the commit window, take part afresh (``RoundRewound``)."""
    if info.commit_open(now):
        raise RoundRewound(r)
    if not ctx.state.get(r).voted or not info.vote_open(now):
        return
    if not await ctx.chain_port.has_voted(r):
        lost(ctx, r, "voted")
        await vote(ctx, r, *outcome, metric_bps=metric_bps)


async def keep_finished_vote(ctx: NodeContext, r: int) -> None:
    """Round ``r``, which this node finished, is open for votes again on chain (restarted
    from a state without the finalizing votes): send the recorded vote again if lost."""
    row = ctx.state.get(r)
    record = json.loads(row.record or "{}")
    if not row.voted or row.reward_root is None or not record.get("model_cid"):
        return
    if await ctx.chain_port.has_voted(r):
        return
    if (await ctx.chain_port.round_info(r)).opened_at != row.opened_at:
        return  # opened again since: the round loop takes part afresh
    lost(ctx, r, "voted")
    slash = record.get("slash")
    if slash is None:  # a record written before slash lists were capped
        slash = await choose_slash(ctx, r, record["rejected"])
    metric = int(record.get("metric_bps", 0))
    try:
        await vote(ctx, r, record["model_cid"], bytes.fromhex(row.reward_root), slash, metric)
    except RoundRewound as exc:  # back in the commit window since the read above
        log.warning("%s; taking part again", exc)
        ctx.state.forget(r)


async def settle(
    ctx: NodeContext,
    r: int,
    keep: Callable[[RoundInfo, int], Awaitable[None]] | None = None,
    every: float | None = None,
) -> RoundInfo:
    """Round ``r`` once it finalized or failed; a round still open after its vote deadline
    is failed by this node's ``advance()``."""
    final = await wait_until(ctx, r, round_settled, keep, every=every)
    if final.status is RoundStatus.OPEN:
        await ctx.chain_port.advance()
        final = await ctx.chain_port.round_info(r)
    return final
