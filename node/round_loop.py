"""The node's round loop: take part in each round the chain opens, advance the round clock,
catch up on rounds missed, and the chores between rounds."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

import trio

from node.advance_turn import AdvanceTurns, round_committers
from node.ahead import AheadTraining
from node.chain.client import RoundInfo, RoundStatus
from node.claims import reconcile_claims
from node.commit import train_ahead
from node.context import NodeContext
from node.errors import ChainError, FedchainError, one_error
from node.round import run_round
from node.status_file import write_status
from node.upkeep import upkeep
from node.vote import keep_finished_vote
from node.waits import (
    WAKE_FALLBACK_S,
    Recheck,
    RoundLost,
    block_seen,
    next_block,
    next_change,
    round_marks,
    saw_time,
    settle_marks,
)

log = logging.getLogger(__name__)


async def collect_garbage(ctx: NodeContext, r: int) -> None:
    """Drop blocks of rounds before r-1, except every finalized model and the genesis."""
    keep = {ctx.genesis_cid}
    keep.update(rec["finalized_cid"] for rec in ctx.state.records() if rec.get("finalized_cid"))
    for recent in (r - 1, r):
        if recent >= 1:
            keep.update((await ctx.chain_port.commitments(recent)).values())
            row = ctx.state.get(recent)
            keep.update(c for c in (row.base_cid, row.model_cid, row.update_cid) if c)
    try:
        removed = await ctx.net.collect_garbage(sorted(keep))
    except FedchainError as exc:
        log.warning("garbage collection skipped: %s", exc)
        return
    ctx.metrics.inc("blocks_collected_total", removed)


async def tidy_up(ctx: NodeContext, r: int) -> None:
    """After round ``r`` (and after the advance it allows: off the critical path)."""
    me = await ctx.chain_port.participant()
    if me is not None:
        ctx.metrics.set("stake_tokens", me.stake / 10**18)
    await collect_garbage(ctx, r)


def count_round(ctx: NodeContext, record: dict[str, Any]) -> None:
    ctx.metrics.inc("rounds_total", status=record["status"])
    for phase, seconds in record["timings"].items():
        ctx.metrics.inc("phase_seconds_total", seconds, phase=phase)
    if record["accuracy"] is not None:
        ctx.metrics.set("model_accuracy", record["accuracy"])
    ctx.metrics.set("last_round", record["round"])


async def advance(ctx: NodeContext) -> None:
    """Open the next round if the chain lets us; say so (log and status, once per change)
    when it waits for participants."""
    # one gas estimate each; "first": the first round's opening (node/advance_turn.py)
    ctx.metrics.inc("advance_calls_total", round="first" if ctx.current_round == 0 else "next")
    try:
        if await ctx.chain_port.advance():
            ctx.metrics.inc("advances_sent_total")
            return
        # Rejected without a transaction: another node advanced first (RoundInProgress)
        # or NotEnoughParticipants(active, required). Discovery keeps the active peer ids.
        need = (await ctx.chain_port.params()).min_participants
    except ChainError as exc:  # e.g. the RPC endpoint is down: the loop retries
        log.debug("advance: %s", exc)
        return
    have = len(ctx.registered_peers)
    if have < need:
        await register_again_if_lost(ctx)
        waiting = f"waiting for {need} participants, {have} active"
        if ctx.phase != waiting:
            log.info("%s (a round opens once %d nodes have staked)", waiting, need)
            write_status(ctx, waiting)


async def register_again_if_lost(ctx: NodeContext) -> None:
    """Register again if the registry lacks this node: a chain restarted from a state
    saved before our registration lost it, and the round waits for us."""
    try:
        if await ctx.chain_port.participant() is not None:
            return
        log.warning("this node is not in the registry (the chain lost it): registering again")
        ctx.metrics.inc("registrations_lost_by_chain_total")
        addrs = ctx.net.listen_addrs()
        await ctx.chain_port.ensure_registered(ctx.cfg.stake, ctx.net.peer_id, addrs)
    except ChainError as exc:
        log.warning("registering again: %s", exc)


def ready_to_advance(info: RoundInfo, now: int, late_vote_grace: int) -> bool:
    """Whether this node should move the round clock past round ``info``.

    The contract keeps a finalized round current for late voters (they earn the voter
    share) until all the stake voted for the outcome or the chain's ``late_vote_grace``
    after finalization (``GraceActive`` before): checked here too only to spare a
    reverting call. A round still open is advanced (and so failed) only after its vote
    deadline.
    """
    if info.status is RoundStatus.FINALIZED:
        return now >= info.grace_ends_at(late_vote_grace)
    if info.status is RoundStatus.OPEN:
        return now >= info.vote_deadline
    return True


def advance_time(info: RoundInfo, late_vote_grace: int, delay: int) -> int:
    """The chain time from which this node (``delay`` seconds after its turn) advances past
    round ``info`` (``ready_to_advance``); a round neither open nor finalized: at once."""
    if info.status is RoundStatus.FINALIZED:
        return info.grace_ends_at(late_vote_grace) + delay
    if info.status is RoundStatus.OPEN:
        return info.vote_deadline + delay
    return 0


def selected_in(ctx: NodeContext, r: int) -> bool:
    """Whether this node's record of round ``r`` says it was on the round's committee (an
    observer's round stores no blocks: no garbage to collect, no stake change to show)."""
    record = json.loads(ctx.state.get(r).record or "{}")
    return record.get("selected") is not False


def chores_due(ctx: NodeContext, r: int) -> bool:
    """Whether this node does the chores after round ``r``: a member of it, or anyone once
    round ``r`` or ``r - 1`` failed (its members may be the inactive ones to report). Sweeps
    are left to the members: at 32 nodes every observer's round-info, chain-time and
    claim-deadline reads were ~70 reads a round for chores the 8 members do as well."""
    if selected_in(ctx, r):
        return True
    for k in (r - 1, r):
        if json.loads(ctx.state.get(k).record or "{}").get("status") == "failed":
            return True
    return False


async def take_part(ctx: NodeContext, info: RoundInfo) -> bool:
    """Run (or resume, or catch up on) one round; False if it failed with an error."""
    write_status(ctx, f"round {info.round}")
    try:
        record = await run_round(ctx, info)
    except RoundLost as exc:
        # The chain has nothing of the round (its opening is lost): safe to start afresh.
        log.warning("%s; taking part again once it reopens", exc)
        ctx.metrics.inc("rounds_lost_by_chain_total")
        ctx.state.forget(exc.round)
        return False
    except FedchainError as exc:
        log.error("round %d: %s", info.round, exc)
        ctx.metrics.inc("round_errors_total")
        return False
    count_round(ctx, record)  # the stake metric and garbage collection: tidy_up, later
    log.info(
        "round %d %s: verified %d, model %s, accuracy %s",
        info.round,
        record["status"],
        record["verified"],
        record["finalized_cid"],
        record["accuracy"],
    )
    write_status(ctx, "idle")
    return True


async def unfinished_rounds(ctx: NodeContext, current: int) -> list[int]:
    """Earlier rounds this node started (or missed since it first joined) but never recorded."""
    first = ctx.state.first_round()
    if first is None:
        return []
    return [k for k in range(first, current) if not ctx.state.get(k).done]


async def round_loop(ctx: NodeContext) -> None:
    with ctx.rounds_scope:  # cancelled by the first stop signal (see stop_on_signal)
        with one_error():
            async with trio.open_nursery() as ahead:  # overlapped rounds (node/ahead.py)
                staleness = ctx.chain_port.deployment.training.staleness
                train = partial(train_ahead, ctx)
                ctx.ahead = AheadTraining(ahead, train, ctx.metrics.inc, staleness)
                await take_rounds(ctx)
                if ctx.claims is not None:
                    await ctx.claims.drain()  # the last rounds' claims before lingering
                ahead.cancel_scope.cancel()
        if not finished_phase(ctx):  # stopped by max_rounds: say if the chain finished too
            await deployment_finished(ctx)
        if ctx.cfg.linger:
            # Done taking part, still serving blobs (others may be fetching ours) until stopped.
            write_status(ctx, ctx.phase if finished_phase(ctx) else "lingering")
            await trio.sleep_forever()
    if ctx.rounds_scope.cancel_called:
        await trio.sleep_forever()  # still serving; stop_on_signal ends the node


async def late_vote_grace(ctx: NodeContext, r: int, cache: dict[tuple[str, int], int]) -> int:
    """The chain's late-vote grace for round ``r`` (parameters change only when a round
    opens, with a ParamsApplied log: read again once the chain watch saw one, else once
    per round)."""
    marks = watch_marks(ctx, "param_marks")
    key = ("round", r) if marks is None else ("marks", marks)
    if key not in cache:
        cache.clear()
        cache[key] = (await ctx.chain_port.params()).late_vote_grace
    return cache[key]


def watch_marks(ctx: NodeContext, kind: str) -> int | None:
    """The chain watch's ``param_marks`` or ``stop_marks`` (``kind``) while its log
    subscription is live; None otherwise (read the chain each time)."""
    watch = ctx.watch
    if watch is None or not watch.round_logs_live:
        return None
    return int(watch.param_marks if kind == "param_marks" else watch.stop_marks)


async def chores(ctx: NodeContext, r: int) -> None:
    """Report inactive stakers after a failed round, sweep rounds whose claims ended."""
    try:
        await upkeep(ctx, r)
    except ChainError as exc:
        log.warning("round %d upkeep: %s", r, exc)


def finished_phase(ctx: NodeContext) -> bool:
    """Whether the status says the deployment finished (kept when the node lingers/stops)."""
    return ctx.phase.startswith("finished")


async def deployment_finished(ctx: NodeContext) -> bool:
    """Whether the chain's stop rule finished the deployment (no round opens any more); if
    so, say how in the log and the status (the node then lingers or stops)."""
    try:
        end = await ctx.chain_port.deployment_end()
    except ChainError as exc:
        log.debug("stop rule: %s", exc)
        return False
    if end is None:
        return False
    reason = end.reason.name.lower().replace("_", " ")
    log.info(
        "deployment finished by the chain's stop rule: round %d (%s, agreed metric %.2f%%), "
        "final model %s (fedchain model export --final)",
        end.round,
        reason,
        end.metric_bps / 100,
        end.model_cid,
    )
    ctx.metrics.set("deployment_finished", 1)
    write_status(ctx, f"finished: round {end.round} ({reason})")  # short: the demo table shows it
    return True


async def read_current(ctx: NodeContext) -> tuple[int, tuple[RoundInfo, int] | None]:
    """The latest opened round and, when it is still the round the loop saw last, that
    round and the chain time: one batched read instead of two while the loop stays in a
    round (most of its wakes)."""
    guess = ctx.current_round
    if guess < 1:
        return await ctx.chain_port.current_round(), None
    current, info, now = await ctx.chain_port.current_view(guess)
    return current, ((info, now) if current == guess else None)


async def take_rounds(ctx: NodeContext) -> None:
    taken_part: set[int] = set()  # rounds (one a chain lost and reopened counts once)
    reconciled = -1
    upkept = 0  # the round after whose part the chores ran
    grace: dict[tuple[str, int], int] = {}
    turns = AdvanceTurns(ctx.address, partial(round_committers, ctx))  # who advances first
    recheck = Recheck(ctx)  # when to read back our vote in a round we finished
    finished_checked = 0  # the last finalized round after which we asked whether it was the last
    stop_checked: int | None = None  # the watch's stop marks then (None: ask every round)
    untidy: int | None = None  # the last round taken part in, until tidy_up ran after it
    while not (ctx.cfg.max_rounds and len(taken_part) >= ctx.cfg.max_rounds):
        seen, marks, settles = block_seen(ctx), round_marks(ctx), settle_marks(ctx)
        r, view = await read_current(ctx)
        ctx.current_round = r
        if r != reconciled:  # at start-up and once per round: claims the chain lost
            if ctx.claims is not None:  # sent beside the round (node/claims.py)
                ctx.claims.reconcile(r)
            else:
                await reconcile_claims(ctx, r)
                view = None
            reconciled = r
        for past in await unfinished_rounds(ctx, r):  # after a crash or downtime
            view = None  # read again after these
            if await take_part(ctx, await ctx.chain_port.round_info(past)):
                taken_part.add(past)
                untidy = past if selected_in(ctx, past) else untidy
        if r == 0:
            await advance(ctx)
            await next_block(ctx, seen)
            continue
        info, now = view if view is not None else await ctx.chain_port.round_view(r)
        saw_time(ctx, now)
        row = ctx.state.get(r)
        resumable = info.status is RoundStatus.FINALIZED and row.base_cid is not None
        live = info.status is RoundStatus.OPEN and now < info.vote_deadline
        if not row.done and (live or resumable):
            if await take_part(ctx, info):
                taken_part.add(r)
                untidy = r if selected_in(ctx, r) else untidy
            else:
                await next_block(ctx, seen)
            continue
        rewound = row.done and info.commit_open(now)  # restarted from before the close
        if rewound or (row.done and row.opened_at not in (None, info.opened_at)):
            log.warning("round %d: the chain lost it and opened it again; taking part", r)
            ctx.metrics.inc("rounds_lost_by_chain_total")
            ctx.state.forget(r)
            continue
        # the advance first: the round after a finalized one opens that much sooner (a
        # finished deployment refuses it, DeploymentOver, and is noticed just below)
        wait = await late_vote_grace(ctx, r, grace) if info.status is RoundStatus.FINALIZED else 0
        delay = await turns.delay(info, row.committed)  # read once per round
        if ready_to_advance(info, now - delay, wait):
            await advance(ctx)
        stops = watch_marks(ctx, "stop_marks")  # no DeploymentFinished log since: not finished
        ask = finished_checked != r if stops is None else stops != stop_checked
        if row.done and info.status is RoundStatus.FINALIZED and ask:
            finished_checked, stop_checked = r, stops
            if await deployment_finished(ctx):
                return
        if row.done and row.voted and info.vote_open(now) and recheck.due():
            await keep_finished_vote(ctx, r)  # the chain lost the votes that finalized it
        if untidy is not None:
            await tidy_up(ctx, untidy)
            untidy = None
        if upkept != r:  # after the advance: the first to advance opens the round sooner
            upkept = r
            if chores_due(ctx, r):
                await chores(ctx, r)
        # Nothing the loop acts on changes before a round-changing log (the next round's
        # opening, a late vote) or the chain time of this node's advance turn: at 32 nodes
        # every block (reward claims, mostly) woke every node for two reads.
        until = advance_time(info, wait, delay)
        due = until if until > now else None
        if settles is not None and row.done and not selected_in(ctx, r):
            # an observer's advance turn comes last: the late votes that may end the grace
            # early are the members' to act on (at 32 nodes, ~2 wakes and reads an
            # observer-round); it wakes on the next round's opening, a failure, its turn
            await next_change(ctx, seen, settles, due, WAKE_FALLBACK_S, settling=True)
        else:
            await next_change(ctx, seen, marks, due, WAKE_FALLBACK_S)
