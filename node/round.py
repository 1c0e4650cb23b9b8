"""One round as a readable sequence of calls: train, commit, exchange, aggregate, vote, claim.

This is the only module (with the daemon that runs it, and the exchange it calls) that joins
the pure learning side (learning/, update/, verify/, aggregate/) with the adapters (chain/,
p2p/, store/).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import trio

from node.abstain import REASON as ABSTAIN_REASON
from node.aggregate import fednova
from node.aggregate.fedavg import apply_delta, capped_weights
from node.aggregate.registry import PreconditionError, Rule
from node.aggregate.rewards import split_pool
from node.byzantine import crafted_delta, is_withholding
from node.chain.client import RoundInfo, RoundStatus
from node.chain.errors import ChainUnreachable, TransactionRejected
from node.chain.merkle import build_reward_tree
from node.context import NodeContext
from node.deferral import defer_vote, lacks_updates
from node.errors import ChainError, UpdateRejected
from node.exchange import (
    Exchange,
    Verified,
    abstain,
    know_eligible,
    missing_verified_updates,
)
from node.faults import crash_point
from node.learning.fixedpoint import FixedParams
from node.learning.local import accuracy_of, compute_delta, shapes_of
from node.learning.train import local_steps
from node.operator.format import fed
from node.privacy import step as privacy
from node.slashing import slash_list
from node.stoprule import metric_bps_of
from node.store.cid import compute_cid
from node.update.codec import UpdateHeader, decode_model, encode_model, encode_update
from node.waits import (
    RoundLost,
    commit_closed,
    round_info,
    round_settled,
    wait_until,
)

log = logging.getLogger(__name__)


async def store_model(ctx: NodeContext, params: FixedParams) -> str:
    return await ctx.net.add_blob(encode_model(params))


async def load_model(ctx: NodeContext, cid: str, holders: Sequence[str] = ()) -> FixedParams:
    """A model by CID: from the local blockstore, else from ``holders`` (peer ids asked
    first) and any peer."""
    blob = await ctx.net.get_local_blob(cid)
    if blob is None:
        others = sorted(ctx.providers.get(cid, set()) | ctx.net.connected_peers())
        peers = [*holders, *(p for p in others if p not in holders)]
        blob = await ctx.net.fetch_blob(cid, peers, ctx.cfg.fetch_timeout)
    if compute_cid(blob) != cid:
        raise UpdateRejected("cid_mismatch", f"model blob does not hash to {cid}")
    return decode_model(blob)


# --- phases -----------------------------------------------------------------------


async def train_and_commit(ctx: NodeContext, info: RoundInfo, base_cid: str) -> str | None:
    """Train on local data from the round's base model and commit the update's CID."""
    r = info.round
    row = ctx.state.get(r)
    if row.update_cid is not None:
        # Trust the chain, not the journal: the node may have crashed between recording
        # the intent and the receipt, or a restarted chain may have lost the commit.
        on_chain = await ctx.call(ctx.chain.commitment_cid, r, ctx.address)
        if on_chain is not None:
            ctx.state.update(r, committed=True)
            return on_chain
        if row.committed:
            lost(ctx, r, "committed")
    if commit_closed(info, await ctx.call(ctx.chain.chain_time)):
        log.info("round %d: commit window already closed; sitting this round out", r)
        return None
    me = await ctx.call(ctx.chain.stake_info)
    if not me.active or not 0 < me.active_from <= r:
        # e.g. slashed below the minimum stake: the contract would refuse the commit
        log.warning(
            "round %d: not an active participant (stake %s FED%s); sitting this round out "
            "(`fedchain stake` tops the stake up)",
            r,
            me.stake / 10**18,
            f", active from round {me.active_from}" if me.active else ", inactive",
        )
        ctx.metrics.inc("rounds_sat_out_total", reason="inactive")
        return None
    if row.update_cid is not None and (
        ctx.net.has_blob(row.update_cid) or is_withholding(ctx.cfg.attack)
    ):
        return await send_commit(ctx, r, row.update_cid)  # trained before a crash: reuse
    may_train, dp = await privacy.plan(ctx, r)
    if not may_train:
        return None  # this node's privacy budget is spent (logged and counted)
    base = await load_model(ctx, base_cid)
    training = ctx.chain.deployment.training
    started = time.monotonic()
    delta = await trio.to_thread.run_sync(
        lambda: compute_delta(
            ctx.task,
            base,
            ctx.train_data,
            epochs=ctx.cfg.epochs,
            lr=ctx.cfg.lr,
            batch_size=ctx.cfg.batch_size,
            seed=ctx.cfg.data_seed * 1_000_003 + r,
            prox_mu=training.prox_mu if training.algorithm == "fedprox" else 0.0,
        )
    )
    ctx.metrics.inc("phase_seconds_total", time.monotonic() - started, phase="train")
    if ctx.cfg.attack:
        delta = await trio.to_thread.run_sync(
            lambda: crafted_delta(
                ctx.cfg.attack,
                delta,
                ctx.train_data,
                lambda data, seed: compute_delta(
                    ctx.task,
                    base,
                    data,
                    epochs=ctx.cfg.epochs,
                    lr=ctx.cfg.lr,
                    batch_size=ctx.cfg.batch_size,
                    seed=seed,
                ),  # fmt: skip
                ctx.rule,
                ctx.cfg.norm_bound,
                r,
                None,
                pool=ctx.attack_pool,
            )
        )
    elif dp is not None:
        delta = await trio.to_thread.run_sync(partial(privacy.publish, ctx, delta, dp))
    header = UpdateHeader(
        deployment=ctx.deployment_id,
        round=r,
        author=ctx.address,
        base_cid=base_cid,
        num_examples=len(ctx.train_data),
        local_steps=local_steps(
            len(ctx.train_data), epochs=ctx.cfg.epochs, batch_size=ctx.cfg.batch_size
        )
        if training.algorithm == "fednova"
        else 0,
    )
    blob = encode_update(header, delta)
    if is_withholding(ctx.cfg.attack):
        cid = compute_cid(blob)  # committed, never stored where peers can fetch it
    else:
        cid = await ctx.net.add_blob(blob)
        queue_pin(ctx, blob)
    crash_point("trained", r)
    now = await ctx.call(ctx.chain.chain_time)
    if now >= info.commit_deadline:
        log.warning("round %d: training finished after the commit deadline; sitting out", r)
        ctx.metrics.inc("commits_missed_total")
        return None
    ctx.state.update(r, update_cid=cid)
    return await send_commit(ctx, r, cid)


def queue_pin(ctx: NodeContext, blob: bytes) -> None:
    """Hand a blob to the optional Kubo pinning task; never blocks the round."""
    if ctx.pin_queue is None:
        return
    try:
        ctx.pin_queue.send_nowait(blob)
    except trio.WouldBlock:
        ctx.metrics.inc("pins_dropped_total")


def count_gas(ctx: NodeContext, action: str, receipt: Any) -> None:
    ctx.metrics.inc("gas_used_total", int(receipt["gasUsed"]), action=action)


_ACTIONS = {"committed": "commit", "voted": "vote", "claimed": "claim"}


def lost(ctx: NodeContext, r: int, flag: str) -> None:
    """The journal has ``flag`` set but the chain does not show the action (e.g. anvil
    restarted from an older state dump): it counts as not done, to be sent again while
    its window is open."""
    action = _ACTIONS[flag]
    log.warning("round %d: the chain lost our %s; sending it again if still in time", r, action)
    ctx.metrics.inc("chain_lost_actions_total", action=action)
    ctx.state.update(r, **{flag: False})


async def send_commit(ctx: NodeContext, r: int, cid: str) -> str | None:
    """Commit ``cid`` until the chain shows it (receipt, then read back); None if the
    commit window closed first."""
    crash_point("commit_intent", r)
    while True:
        await round_info(ctx, r)  # never into a reopened round: its base may differ
        error: ChainError | None = None
        try:
            receipt = await ctx.send(ctx.chain.commit, r, cid)
        except ChainUnreachable:
            pass  # it may have reached the chain all the same: read it back below
        except ChainError as exc:  # e.g. AlreadyCommitted after a resend, or too late
            error = exc
        else:
            count_gas(ctx, "commit", receipt)
            crash_point("committed", r)
        if await ctx.call(ctx.chain.commitment_cid, r, ctx.address) is not None:
            ctx.state.update(r, committed=True)
            log.info("round %d: committed update %s", r, cid)
            return cid
        info = await round_info(ctx, r)
        if not info.commit_open(await ctx.call(ctx.chain.chain_time)):
            why = f" ({error})" if error else ""
            log.warning("round %d: commit not on chain and the window closed%s", r, why)
            ctx.metrics.inc("commits_missed_total")
            return None
        if error is not None:
            raise error
        log.info("round %d: commit not on chain after an RPC failure; sending it again", r)


def aggregate(
    rule: Rule,
    base: FixedParams,
    updates: list[Verified],
    cap: int,
    reference: FixedParams | None,
    invalid: int = 0,
    algorithm: str = "fedavg",
) -> tuple[FixedParams, dict[str, int]]:
    """New model and per-author contribution scores, over updates in canonical order.

    ``invalid`` updates were rejected as invalid: known Byzantine, so the rule runs with
    f lowered by that many (``Rule.after_invalid``). Still too few verified updates for
    the rule (e.g. Krum with n < 2f+3, after withheld updates): every honest node sees the
    same set, so all keep the base model and pay no contribution rewards.
    ``algorithm`` ``fednova``: the rule runs on the updates rescaled by their authors'
    local step counts (node/aggregate/fednova.py).
    """
    if not updates:
        return base, {}
    weights = capped_weights([u.header.num_examples for u in updates], cap)
    deltas: list[FixedParams] = [u.delta for u in updates]
    if algorithm == "fednova":
        deltas = fednova.normalise(deltas, [u.header.local_steps for u in updates], weights)
    try:
        result = rule.after_invalid(invalid)(deltas, weights, reference)
    except PreconditionError as exc:
        log.warning("aggregation skipped: %s", exc)
        return base, {}
    new = apply_delta(base, result.delta)
    authors = [u.author for u in updates]
    return new, reward_weights(authors, result.scores, weights, result.duplicates)


def offenders(rejected: Mapping[str, str]) -> list[str]:
    """Authors whose committed update was rejected for any reason but "unavailable": known
    Byzantine (an honest node never sends an invalid update), the same on every honest
    node since every node runs the same checks on the same committed bytes."""
    return sorted(a for a, why in rejected.items() if why != "unavailable")


async def choose_slash(ctx: NodeContext, r: int, rejected: Mapping[str, str]) -> list[str]:
    """Round ``r``'s slash list: the offenders, at most the contract's ``MAX_SLASH`` of
    them (by stake at opening, then a per-round hash: see node/slashing.py)."""
    bad = offenders(rejected)
    if not bad:
        return []
    cap = await ctx.call(ctx.chain.max_slash)
    if len(bad) <= cap:  # stakes only decide who is left out
        return slash_list(dict.fromkeys(bad, 0), r, cap)
    stakes = {a: await ctx.call(ctx.chain.stake_at_open, r, a) for a in bad}
    return slash_list(stakes, r, cap)


def reward_weights(
    authors: list[str],
    scores: Sequence[int],
    examples: list[int],
    duplicates: Sequence[int] = (),
) -> dict[str, int]:
    """Contribution scores decide the split; when no update scores above the margin (late,
    converged rounds where every cosine is small) capped example counts do, so honest
    contributors are still paid. Near-duplicates (``duplicates``: positions) are paid in
    neither case. See docs/decisions.md."""
    if any(scores):
        return dict(zip(authors, (int(s) for s in scores), strict=True))
    copied = set(duplicates)
    pairs = enumerate(zip(authors, examples, strict=True))
    return {author: 0 if i in copied else w for i, (author, w) in pairs}


async def vote(
    ctx: NodeContext, r: int, model_cid: str, root: bytes, slash: list[str], metric_bps: int = 0
) -> None:
    """Submit this node's outcome until the chain shows the vote or the vote window closes.
    ``metric_bps``: this node's evaluation of the outcome's model (the stop rule reads the
    winning voters' stake-weighted mean).

    Only the chain's ``hasVoted`` marks the vote done in the journal: a send that failed
    because the RPC endpoint was down is read back and sent again while the window is open.
    """
    ctx.state.update(r, model_cid=model_cid, reward_root=root.hex())
    crash_point("vote_intent", r)
    while True:
        if await ctx.call(ctx.chain.has_voted, r):
            ctx.state.update(r, voted=True)
            return
        info = await round_info(ctx, r)
        if not info.vote_open(await ctx.call(ctx.chain.chain_time)):
            ctx.metrics.inc("votes_missed_total")
            log.warning("round %d: the vote window closed before our vote reached the chain", r)
            return
        try:
            receipt = await ctx.send(
                ctx.chain.submit_outcome, r, model_cid, root, slash, metric_bps
            )
        except ChainUnreachable:
            log.info("round %d: vote not confirmed (RPC down): reading the chain back", r)
            continue
        except ChainError as exc:
            if await ctx.call(ctx.chain.has_voted, r):
                continue  # an earlier send that failed in transport reached the chain
            # Too late: the round finalized and the next one opened. The outcome still
            # decides what this node records and claims, so carry on without a vote.
            ctx.metrics.inc("votes_rejected_total")
            log.warning("round %d: vote not counted: %s", r, exc)
            return
        count_gas(ctx, "submit_outcome", receipt)
        crash_point("voted", r)
        log.info("round %d: voted model %s", r, model_cid)


async def keep_commit(ctx: NodeContext, r: int, info: RoundInfo, now: int) -> None:
    """While the commit window is open, send our commit again if the chain lost it."""
    row = ctx.state.get(r)
    if not row.committed or row.update_cid is None or not info.commit_open(now):
        return
    if await ctx.call(ctx.chain.commitment_cid, r, ctx.address) is None:
        lost(ctx, r, "committed")
        await send_commit(ctx, r, row.update_cid)


async def keep_vote(
    ctx: NodeContext,
    r: int,
    info: RoundInfo,
    now: int,
    outcome: tuple[str, bytes, list[str]],
    metric_bps: int = 0,
) -> None:
    """While the vote window is open, send our vote again if the chain lost it."""
    if not ctx.state.get(r).voted or not info.vote_open(now):
        return
    if not await ctx.call(ctx.chain.has_voted, r):
        lost(ctx, r, "voted")
        await vote(ctx, r, *outcome, metric_bps=metric_bps)


async def keep_finished_vote(ctx: NodeContext, r: int) -> None:
    """Round ``r``, which this node finished, is open for votes again on chain (restarted
    from a state without the finalizing votes): send the recorded vote again if lost."""
    row = ctx.state.get(r)
    record = json.loads(row.record or "{}")
    if not row.voted or row.reward_root is None or not record.get("model_cid"):
        return
    if await ctx.call(ctx.chain.has_voted, r):
        return
    if (await ctx.call(ctx.chain.round_info, r)).opened_at != row.opened_at:
        return  # opened again since: the round loop takes part afresh
    lost(ctx, r, "voted")
    slash = record.get("slash")
    if slash is None:  # a record written before slash lists were capped
        slash = await choose_slash(ctx, r, record["rejected"])
    metric = int(record.get("metric_bps", 0))
    await vote(ctx, r, record["model_cid"], bytes.fromhex(row.reward_root), slash, metric)


async def forget_lost_claim(ctx: NodeContext, r: int) -> None:
    """A claim the journal has but the chain lacks counts as not made (claims never expire)."""
    if ctx.state.get(r).claimed and not await ctx.call(ctx.chain.is_claimed, r, ctx.address):
        lost(ctx, r, "claimed")


def claim_period_over(exc: ChainError) -> bool:
    """The round's claim period ended (its rest went, or goes, back to the treasury):
    retrying can never succeed, so the reward counts as settled."""
    return isinstance(exc, TransactionRejected) and exc.error == "ClaimPeriodOver"


async def reconcile_claims(ctx: NodeContext, current: int) -> None:
    """Contributor rewards of finished rounds that this node claimed but the chain does not
    show (a chain restarted from an older state lost the claim): claimed again. A claim
    seen on chain two rounds later (long after the chain's last state dump) is marked
    confirmed in its record and not read again."""
    for record in ctx.state.records():
        r = int(record["round"])
        if not record.get("reward") or record.get("claim_confirmed") or r >= current:
            continue
        try:
            await forget_lost_claim(ctx, r)
            if not ctx.state.get(r).claimed:
                proof = [bytes.fromhex(p) for p in record["proof"]]
                await claim(ctx, r, int(record["earned"]), proof)
        except ChainError as exc:
            if not claim_period_over(exc):
                log.warning("round %d: reward claim not confirmed yet: %s", r, exc)
                continue
            log.warning("round %d: reward lost: its claim period ended before the claim", r)
            ctx.metrics.inc("claims_expired_total")
            record["claim_expired"] = True
        if r >= current - 1 and not record.get("claim_expired"):
            continue
        record["claim_confirmed"] = True
        ctx.state.update(r, record=json.dumps(record, sort_keys=True))


async def run_round(ctx: NodeContext, info: RoundInfo) -> dict[str, Any]:
    """Take part in round ``info.round`` from wherever this node left it; returns the record."""
    r = info.round
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[phase] = round(now - clock, 3)
        clock = now

    base_cid = ctx.state.get(r).base_cid
    if base_cid is None:
        if info.status is not RoundStatus.OPEN:
            return await catch_up(ctx, r)
        # The round's base is the model that was current when it opened: record it before
        # anything else, since after finalization the chain's latest model moves on. Read
        # between two reads of the round, so a chain restarted meanwhile is noticed.
        opened_at = (await round_info(ctx, r)).opened_at
        base_cid = await ctx.call(ctx.chain.latest_model_cid)
        if (await round_info(ctx, r)).opened_at != opened_at:
            raise RoundLost(r)
        ctx.state.update(r, base_cid=base_cid, opened_at=opened_at)
    selected, committee = await selection(ctx, r)
    if not selected and committee is not None:
        return await observe(ctx, r, committee)
    base = await load_model(ctx, base_cid)
    await know_eligible(ctx, info)
    own_cid = await train_and_commit(ctx, info, base_cid)
    lap("train_commit")
    with one_error():
        async with trio.open_nursery() as fetching:
            exchange = Exchange(ctx, r, base_cid, shapes_of(base), fetching)
            keep = partial(keep_commit, ctx, r)
            await wait_until(ctx, r, commit_closed, keep, seen=exchange.landed)
            if own_cid is not None and not ctx.state.get(r).committed:
                own_cid = None  # lost by the chain after the window closed: not in this round
            lap("wait_commit_close")
            updates, rejected = await exchange.finish()
    crash_point("exchanged", r)
    lap("exchange")
    # Scores without projecting out the previous global delta: as training converges,
    # successive global deltas align and the projection leaves honest updates near-zero,
    # noisy scores (winner-take-all payouts). See docs/decisions.md.
    invalid = len(offenders(rejected))
    new_params, scores = aggregate(
        ctx.rule,
        base,
        updates,
        ctx.cfg.max_examples,
        None,
        invalid=invalid,
        algorithm=ctx.chain.deployment.training.algorithm,
    )
    model_bytes = encode_model(new_params)
    model_cid = await ctx.net.add_blob(model_bytes)
    queue_pin(ctx, model_bytes)
    amounts = split_pool(info.contributor_pool, scores)  # pool reserved when the round opened
    tree = build_reward_tree(r, amounts)
    lap("aggregate")
    slash = await choose_slash(ctx, r, rejected)
    outcome = (model_cid, tree.root, slash)
    # The vote carries our evaluation of the model it votes for (the chain's stop rule).
    accuracy = accuracy_of(ctx.task, new_params, ctx.test_data)
    metric_bps = metric_bps_of(accuracy)
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
        final = await settle(ctx, r)
    else:
        await vote(ctx, r, *outcome, metric_bps=metric_bps)
        keep = partial(keep_vote, ctx, r, outcome=outcome, metric_bps=metric_bps)
        final = await settle(ctx, r, keep)
    lap("vote_finalize")
    record = new_record(r, final.status)
    if committee is not None:
        record["committee"] = committee
    record.update(
        selected=selected,
        committed=own_cid is not None,
        verified=len(updates),
        rejected=rejected,
        slash=slash,  # what this node voted to slash (capped): re-sent as is if lost
        aggregation_f=ctx.rule.after_invalid(invalid).f,
        model_cid=model_cid,
        metric_bps=metric_bps,  # sent with the vote (re-sent as is if lost)
        timings=timings,
        # this node's view per author, for `fedchain round show --node-dir`
        verified_authors=[u.author for u in updates],
        scores=scores,
        rewards=amounts,
    )
    if deferred:
        record["deferred"] = True
    spent = privacy.report(ctx)
    if spent is not None:
        record["privacy"] = spent  # epsilon so far, per node (docs/privacy.md)
    if abstained is not None:
        record["abstained"] = abstained
    if final.status is RoundStatus.FINALIZED:
        finalized_cid = await ctx.call(ctx.chain.latest_model_cid_of, r)
        record["finalized_cid"] = finalized_cid
        if finalized_cid == model_cid:
            record["accuracy"] = accuracy
        else:
            params = await load_model(ctx, finalized_cid)
            record["accuracy"] = accuracy_of(ctx.task, params, ctx.test_data)
        crash_point("finalized", r)
        mine = amounts.get(ctx.address, 0)
        if finalized_cid == model_cid and mine > 0:
            proof = tree.proof(ctx.address)
            record["earned"] = mine
            record["proof"] = [p.hex() for p in proof]
            if ctx.cfg.auto_claim:
                await forget_lost_claim(ctx, r)
                await claim(ctx, r, mine, proof)
                record["reward"] = mine
    if ctx.cfg.auto_claim:
        await claim_voter_rewards(ctx, r)
    lap("claim_evaluate")
    ctx.state.finish(r, record)
    return record


@contextmanager
def one_error() -> Iterator[None]:
    """Re-raise a nursery's only error as itself: the round loop handles ``RoundLost`` and
    other ``FedchainError``s by type, and trio wraps whatever a nursery raises in an
    ``ExceptionGroup`` (a chain restarted mid-exchange killed the node this way)."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


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
        await ctx.call(ctx.chain.advance)
        final = await ctx.call(ctx.chain.round_info, r)
    return final


async def selection(ctx: NodeContext, r: int) -> tuple[bool, list[str] | None]:
    """Whether this node may commit and vote in round ``r``, and the round's committee (in
    draw order, from the chain's ``CommitteeSelected`` event; None when the round was not
    sampled and every active participant takes part)."""
    selected = await ctx.call(ctx.chain.is_selected, r)
    return selected, await ctx.call(ctx.chain.committee, r)


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
        cid = await ctx.call(ctx.chain.latest_model_cid_of, r)
        params = await load_model(ctx, cid, await model_holders(ctx, committee))
        record.update(finalized_cid=cid, accuracy=accuracy_of(ctx.task, params, ctx.test_data))
    record["timings"] = {"observe": round(time.monotonic() - started, 3)}
    ctx.state.finish(r, record)
    return record


OBSERVER_WAKE_S = 5.0  # an observer reads the round this often (nothing waits on it)
MODEL_HOLDERS = 2  # members an observer asks first for the finalized model


async def model_holders(ctx: NodeContext, committee: Sequence[str]) -> list[str]:
    """Peer ids of ``MODEL_HOLDERS`` random committee members, who computed the finalized
    model: asked first for it (the fetch dials them), so the observers of a large round
    spread over the members instead of all asking (and dialling) every one of them."""
    chosen = random.sample(list(committee), min(MODEL_HOLDERS, len(committee)))
    peers = [await ctx.call(ctx.chain.participant, m) for m in chosen]
    return [p.peer_id for p in peers if p is not None]


def new_record(r: int, status: RoundStatus) -> dict[str, Any]:
    return {
        "round": r,
        "status": status.name.lower(),
        "committed": False,
        "verified": 0,
        "rejected": {},
        "model_cid": None,
        "finalized_cid": None,
        "accuracy": None,
        "reward": 0,
        "earned": 0,
        "proof": [],
        "timings": {},
    }


async def catch_up(ctx: NodeContext, r: int) -> dict[str, Any]:
    """A round this node missed: fetch its finalized model (Bitswap) and record it."""
    info = await ctx.call(ctx.chain.round_info, r)
    record = new_record(r, info.status)
    selected, committee = await selection(ctx, r)
    record["selected"] = selected
    if committee is not None:
        record["committee"] = committee
    if not selected:
        ctx.metrics.inc("rounds_not_selected_total")  # as if observed: the same count
    if info.status is RoundStatus.FINALIZED:
        cid = await ctx.call(ctx.chain.latest_model_cid_of, r)
        params = await load_model(ctx, cid)
        record.update(finalized_cid=cid, accuracy=accuracy_of(ctx.task, params, ctx.test_data))
    log.info("round %d: missed; caught up on its outcome (%s)", r, record["status"])
    ctx.state.finish(r, record)
    return record


async def claim(ctx: NodeContext, r: int, amount: int, proof: list[bytes]) -> None:
    """Claim this node's contributor reward of round ``r`` unless the chain shows it claimed
    (by this node before a restart, or by the operator)."""
    async with ctx.claim_lock:
        if ctx.state.get(r).claimed or await ctx.call(ctx.chain.is_claimed, r, ctx.address):
            ctx.state.update(r, claimed=True)
            return
        try:
            receipt = await ctx.call(ctx.chain.claim, r, amount, proof)
        except ChainError:
            # Someone else with this key claimed it meanwhile: done all the same.
            if not await ctx.call(ctx.chain.is_claimed, r, ctx.address):
                raise
            ctx.state.update(r, claimed=True)
            return
        count_gas(ctx, "claim", receipt)
        ctx.state.update(r, claimed=True)
    log.info("round %d: claimed reward %s", r, fed(amount))


async def claim_voter_rewards(ctx: NodeContext, before: int) -> None:
    """Voter rewards of the rounds before ``before`` that this node voted the winning
    outcome of (unlocked once a later round opened). Each round is asked of the chain once
    and then marked settled in its record, so this is idempotent and cheap."""
    for record in ctx.state.records():
        r = int(record["round"])
        if r >= before or record.get("voter_settled") or record["status"] != "finalized":
            continue
        if not ctx.state.get(r).voted:
            continue
        try:
            amount = await claim_voter_reward(ctx, r)
        except ChainError as exc:
            if not claim_period_over(exc):
                log.warning("round %d: voter reward not claimed yet: %s", r, exc)
                continue
            log.warning("round %d: voter reward lost: its claim period ended", r)
            ctx.metrics.inc("claims_expired_total")
            amount = 0
        if amount is None:
            continue  # still locked
        record.update(voter_reward=amount, voter_settled=True)
        ctx.state.update(r, record=json.dumps(record, sort_keys=True))


async def claim_voter_reward(ctx: NodeContext, r: int) -> int | None:
    """Claim round ``r``'s voter reward if earned and unclaimed; the amount earned (0 if
    none), None while it is locked."""
    async with ctx.claim_lock:
        info = await ctx.call(ctx.chain.round_info, r)
        outcome, weight, claimed = await ctx.call(ctx.chain.vote_of, r, ctx.address)
        if outcome != info.outcome_key or not weight or not info.winning_weight:
            return 0
        amount = info.voter_pool * weight // info.winning_weight
        if claimed or amount == 0:
            return amount
        locked = r == await ctx.call(ctx.chain.current_round)
        if locked and await ctx.call(ctx.chain.chain_time) < info.vote_deadline:
            return None
        try:
            receipt = await ctx.call(ctx.chain.claim_voter_reward, r)
        except ChainError:
            if not (await ctx.call(ctx.chain.vote_of, r, ctx.address))[2]:
                raise
            return amount  # claimed meanwhile by the operator with this key
        count_gas(ctx, "claim_voter_reward", receipt)
        ctx.metrics.inc("voter_rewards_claimed_tokens_total", amount / 10**18)
    log.info("round %d: claimed voter reward %s", r, fed(amount))
    return amount
