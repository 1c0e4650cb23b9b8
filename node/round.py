"""One round as a readable sequence of calls: train, commit, exchange, aggregate, vote, claim.

``run_round`` is the data path; each phase lives in its own module (commit, exchange, vote,
claims, observer) and the math in the pure round step (node/aggregate/step.py). This is the
only module (with the daemon that runs it) that joins the pure learning side (learning/,
update/, verify/, aggregate/) with the adapters (chain/, p2p/, store/), which it reaches
through the ports (node/ports.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import trio

from node.abstain import REASON as ABSTAIN_REASON
from node.aggregate.rewards import split_pool
from node.aggregate.step import Contribution, round_step
from node.ahead import training_base
from node.base_model import BaseFetch
from node.chain.client import RoundInfo, RoundStatus
from node.chain.merkle import RewardTree, build_reward_tree
from node.claims import claim_recorded, claim_voter_rewards
from node.commit import keep_commit, train_and_commit
from node.committee_links import meet_committee, note_committee
from node.context import NodeContext
from node.deferral import defer_vote, lacks_updates
from node.errors import one_error
from node.exchange import Exchange, Verified, abstain, know_eligible, missing_verified_updates
from node.faults import crash_point
from node.learning.local import shapes_of
from node.models import load_model, store_model
from node.observer import catch_up, observe, selection
from node.privacy import step as privacy
from node.record import Laps, new_record
from node.stoprule import metric_bps_of
from node.update.fixedpoint import FixedParams
from node.vote import Outcome, choose_slash, evaluate_outcome, keep_vote, offenders, settle, vote
from node.waits import RoundLost, known, wait_until

log = logging.getLogger(__name__)


async def run_round(ctx: NodeContext, info: RoundInfo) -> dict[str, Any]:
    """Take part in round ``info.round`` from wherever this node left it; returns the record."""
    r = info.round
    lap = Laps()
    if info.status is RoundStatus.OPEN:  # before anything slow: peers announce soon
        await know_eligible(ctx, info)
    base_cid = ctx.state.get(r).base_cid
    if base_cid is None and info.status is not RoundStatus.OPEN:
        return await catch_up(ctx, r)
    base_cid, (selected, committee) = await base_and_selection(ctx, r, base_cid)
    note_committee(ctx, r, committee)  # its members' connections are kept (connection_budget)
    if not selected and committee is not None:
        if ctx.ahead is not None:  # trained for a committee without this node
            ctx.ahead.discard(r, "not_selected")
        return await observe(ctx, r, committee)
    if committee is not None:  # connections to the other members, before the fetches
        meet_committee(ctx, committee)
    fetch = BaseFetch()
    with one_error():
        async with trio.open_nursery() as fetching:
            fetching.start_soon(fetch.run, ctx, r, base_cid, committee)
            # updates are trained on the base, or the previous round's (staleness 1)
            trained_on = await training_base(
                ctx.chain_port, ctx.state, ctx.genesis_cid, r, base_cid
            )
            own_cid = await train_and_commit(ctx, info, trained_on, fetch.ready)
    base, base_fetch_s = fetch.result()
    if ctx.claims is not None:  # the last round's claims, now that the commit is sent
        ctx.claims.resume()
    if ctx.ahead is not None:  # overlapped rounds: round r + 1's update, meanwhile
        ctx.ahead.follow(r, base_cid)
    lap("train_commit")
    updates, rejected, own_cid = await exchange(ctx, r, trained_on, base, own_cid, lap)
    crash_point("exchanged", r)
    lap("exchange")
    # Scores without projecting out the previous global delta: as training converges,
    # successive global deltas align and the projection leaves honest updates near-zero,
    # noisy scores (winner-take-all payouts). See docs/decisions.md.
    step = round_step(
        ctx.rule,
        base,
        contributions(updates),
        cap=ctx.cfg.max_examples,
        invalid=len(offenders(rejected)),
        algorithm=ctx.chain_port.deployment.training.algorithm,
    )
    if step.skipped and updates:
        log.warning("aggregation skipped: %s", step.skipped)
    model_cid = await store_model(ctx, step.model)
    amounts = split_pool(info.contributor_pool, step.rewards)  # reserved when the round opened
    tree = build_reward_tree(r, amounts)
    lap("aggregate")
    outcome = (model_cid, tree.root, await choose_slash(ctx, r, rejected))
    # The vote carries our evaluation of the model it votes for (the chain's stop rule).
    accuracy = await evaluate_outcome(ctx, step.model)
    metric_bps = metric_bps_of(accuracy)
    final, abstained, deferred = await decide(ctx, r, outcome, rejected, metric_bps)
    lap("vote_finalize")
    record = new_record(r, final.status)
    if committee is not None:
        record["committee"] = committee
    record.update(
        selected=selected,
        committed=own_cid is not None,
        trained_ahead=ctx.ahead is not None and r in ctx.ahead.used,
        verified=len(updates),
        rejected=rejected,
        slash=outcome[2],  # what this node voted to slash (capped): re-sent as is if lost
        aggregation_f=step.f,
        model_cid=model_cid,
        metric_bps=metric_bps,  # sent with the vote (re-sent as is if lost)
        timings=lap.timings,
        # this node's view per author, for `fedchain round show --node-dir`
        verified_authors=[u.author for u in updates],
        scores=step.rewards,
        rewards=amounts,
    )
    if base_fetch_s is not None:  # the base came from peers, inside train_commit
        record["base_fetch_s"] = base_fetch_s
    if deferred:
        record["deferred"] = True
    spent = privacy.report(ctx)
    if spent is not None:
        record["privacy"] = spent  # epsilon so far, per node (docs/privacy.md)
    if abstained is not None:
        record["abstained"] = abstained
    if final.status is RoundStatus.FINALIZED:
        await take_outcome(ctx, record, accuracy, amounts, tree)
    lap("claim_evaluate")
    record["cpu_s"] = lap.cpu_seconds()
    record["process_cpu_s"] = round(time.process_time(), 3)  # since start: CPU between records
    record["recorded_at"] = round(time.time(), 3)  # wall clock: benches time rounds by it
    ctx.state.finish(r, record)  # the reward owed is kept before its claim is sent
    if ctx.cfg.auto_claim and ctx.claims is not None:
        ctx.claims.finished(r)  # claimed beside the next round (node/claims.py)
    elif ctx.cfg.auto_claim:  # no round loop (e.g. a round run alone)
        await claim_recorded(ctx, r)
        await claim_voter_rewards(ctx, r)
    return record


async def base_and_selection(
    ctx: NodeContext, r: int, base_cid: str | None
) -> tuple[str, tuple[bool, list[str] | None]]:
    """The round's base (recorded if not yet) and ``selection``: two reads at once."""
    recorded = [base_cid]

    async def record() -> None:
        recorded[0] = await record_base(ctx, r)

    with one_error():
        async with trio.open_nursery() as reads:
            if base_cid is None:
                reads.start_soon(record)
            drawn = await selection(ctx, r)
    if recorded[0] is None:
        raise RuntimeError("the round's base was not recorded")
    return recorded[0], drawn


async def record_base(ctx: NodeContext, r: int) -> str:
    """The round's base is the model that was current when it opened: recorded before
    anything else, since after finalization the chain's latest model moves on. Read between
    two reads of the round (one batched read), so a chain restarted meanwhile is noticed."""
    before, base_cid, after = await ctx.chain_port.round_base_view(r)
    opened_at = known(ctx, before).opened_at
    if known(ctx, after).opened_at != opened_at:
        raise RoundLost(r)
    ctx.state.update(r, base_cid=base_cid, opened_at=opened_at)
    return base_cid


async def exchange(
    ctx: NodeContext, r: int, base_cid: str, base: FixedParams, own_cid: str | None, lap: Laps
) -> tuple[list[Verified], dict[str, str], str | None]:
    """Wait for the commit window to close (resending a commit the chain lost), fetching
    and verifying the updates committed so far meanwhile; then the rest until the exchange
    deadline. Returns the verified updates, the rejected authors and our own CID (None if
    the chain lost our commit after the window closed: not in this round)."""
    with one_error():
        async with trio.open_nursery() as fetching:
            running = Exchange(ctx, r, base_cid, shapes_of(base), fetching)
            keep = partial(keep_commit, ctx, r)
            await wait_until(ctx, r, running.window_closed, keep, seen=running.landed)
            if own_cid is not None and not ctx.state.get(r).committed:
                own_cid = None
            lap("wait_commit_close")
            updates, rejected = await running.finish()
    return updates, rejected, own_cid


def contributions(updates: Sequence[Verified]) -> list[Contribution]:
    """The verified updates (canonical order) as the round step's inputs."""
    return [
        Contribution(u.author, u.delta, u.header.num_examples, u.header.local_steps)
        for u in updates
    ]


async def decide(
    ctx: NodeContext, r: int, outcome: Outcome, rejected: dict[str, str], metric_bps: int
) -> tuple[RoundInfo, dict[str, Any] | None, bool]:
    """Vote for ``outcome`` (kept on chain until the round settles), or abstain: when
    updates others verified never reached this node, or (deferred) when it lacks an update
    nobody announced and an honest node voted otherwise. Returns the settled round, the
    abstention (None if it voted) and whether the vote was deferred."""
    held_elsewhere = await missing_verified_updates(ctx, r, rejected)
    abstained: dict[str, Any] | None = None
    if held_elsewhere:
        abstain(ctx, r, held_elsewhere)
        abstained = {"reason": ABSTAIN_REASON, "announcers": held_elsewhere}
    # lacking an update nobody announced: vote only if no honest node voted otherwise
    deferred = lacks_updates(rejected) and not held_elsewhere and not ctx.state.get(r).voted
    if deferred:
        abstained = await defer_vote(ctx, r, *outcome)
    if abstained is not None:
        return await settle(ctx, r), abstained, deferred
    await vote(ctx, r, *outcome, metric_bps=metric_bps)
    keep = partial(keep_vote, ctx, r, outcome=outcome, metric_bps=metric_bps)
    return await settle(ctx, r, keep), None, deferred


async def take_outcome(
    ctx: NodeContext,
    record: dict[str, Any],
    accuracy: float,
    amounts: dict[str, int],
    tree: RewardTree,
) -> None:
    """The round finalized: record its model's accuracy and, if it is the model this node
    computed, this node's reward with its proof (owed, with ``auto_claim``: node/claims.py)."""
    r, model_cid = record["round"], record["model_cid"]
    finalized_cid = await ctx.chain_port.latest_model_cid_of(r)
    record["finalized_cid"] = finalized_cid
    if finalized_cid == model_cid:
        record["accuracy"] = accuracy
    else:
        params = await load_model(ctx, finalized_cid)
        record["accuracy"] = await evaluate_outcome(ctx, params)
    crash_point("finalized", r)
    mine = amounts.get(ctx.address, 0)
    if finalized_cid == model_cid and mine > 0:
        proof = tree.proof(ctx.address)
        record["earned"] = mine
        record["proof"] = [p.hex() for p in proof]
        if ctx.cfg.auto_claim:
            record["reward"] = mine  # owed: claimed once the record is kept
