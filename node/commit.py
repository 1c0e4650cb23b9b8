"""Train and commit: this node's update of a round, committed until the chain shows it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from node.announcements import push_soon
from node.chain.client import RoundInfo
from node.chain.errors import ChainUnreachable
from node.context import NodeContext
from node.errors import ChainError, FedchainError
from node.faults import crash_point
from node.learning.eager import eager_start
from node.learning.local import compute_delta, shapes_of
from node.learning.tasks import Dataset
from node.learning.train import local_steps
from node.models import load_model
from node.privacy import step as privacy
from node.privacy.bound import update_norm_bound
from node.store.cid import compute_cid
from node.update.codec import UpdateHeader, decode_update, encode_update
from node.update.feedback import outgoing
from node.update.fixedpoint import FixedParams
from node.waits import commit_closed, known, round_info, round_view

log = logging.getLogger(__name__)


async def train_and_commit(
    ctx: NodeContext,
    info: RoundInfo,
    base_cid: str,
    base_ready: Callable[[], Awaitable[None]] | None = None,
) -> str | None:
    """Train on local data from the round's base model and commit the update's CID.
    ``base_ready``: until the round's base is stored (fetched meanwhile: node/base_model.py)."""
    r = info.round
    chain = ctx.chain_port
    row = ctx.state.get(r)
    if row.update_cid is not None:
        # Trust the chain, not the journal: the node may have crashed between recording
        # the intent and the receipt, or a restarted chain may have lost the commit.
        on_chain = await chain.commitment_cid(r, ctx.address)
        if on_chain is not None:
            ctx.state.update(r, committed=True)
            return on_chain
        if row.committed:
            lost(ctx, r, "committed")
    now_info, me, now = await chain.commit_view(r)
    if commit_closed(known(ctx, now_info), now):
        log.info("round %d: commit window already closed; sitting this round out", r)
        return None
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
    if row.update_cid is not None and (ctx.blobs.has(row.update_cid) or not ctx.behaviour.serves):
        return await send_commit(ctx, r, row.update_cid)  # trained before a crash: reuse
    may_train, dp = await privacy.plan(ctx, r)
    if not may_train:
        return None  # this node's privacy budget is spent (logged and counted)
    if base_ready is not None:
        await base_ready()
    base = await load_model(ctx, base_cid)
    training = chain.deployment.training
    # overlapped rounds: trained while the previous round finished (node/ahead.py)
    ahead = None if ctx.ahead is None else await ctx.ahead.take(r, base_cid, row.base_cid)
    delta = ahead if ahead is not None else await train_delta(ctx, await start_of(ctx, r, base), r)
    if ctx.behaviour.crafts:  # a simulated attacker (node/attacks): no DP noise either
        retrain = partial(retrain_from, ctx, base)
        craft = partial(ctx.behaviour.craft, delta, retrain, ctx.rule, ctx.cfg.norm_bound, r)
        delta = await trio.to_thread.run_sync(craft)
    elif dp is not None:
        delta = await trio.to_thread.run_sync(partial(privacy.publish, ctx, delta, dp))
    # under a compressed codec: error feedback, the residual saved in the data dir first
    bound = update_norm_bound(training, shapes_of(delta), ctx.cfg.norm_bound)
    send = partial(outgoing, ctx.cfg.data_dir, ctx.deployment_id, r, delta, training.update_codec)
    delta = await trio.to_thread.run_sync(partial(send, None if ctx.behaviour.crafts else bound))
    header = UpdateHeader(
        deployment=ctx.deployment_id,
        round=r,
        author=ctx.address,
        base_cid=base_cid,
        num_examples=len(ctx.train_data),
        codec=training.update_codec,
        local_steps=local_steps(
            len(ctx.train_data), epochs=ctx.cfg.epochs, batch_size=ctx.cfg.batch_size
        )
        if training.algorithm == "fednova"
        else 0,
    )
    blob = encode_update(header, delta)
    if not ctx.behaviour.serves:
        cid = compute_cid(blob)  # committed, never stored where peers can fetch it
    else:
        cid = await ctx.blobs.put(blob)
    crash_point("trained", r)
    _, now = await round_view(ctx, r)  # the round as the journal has it (else RoundLost)
    if now >= info.commit_deadline:
        log.warning("round %d: training finished after the commit deadline; sitting out", r)
        ctx.metrics.inc("commits_missed_total")
        return None
    ctx.state.update(r, update_cid=cid)
    if ctx.behaviour.serves:  # a small update rides its announcement, sent with the commit
        push_soon(ctx, r, cid, blob)
    return await send_commit(ctx, r, cid, round_checked=True)


async def train_delta(
    ctx: NodeContext, base: FixedParams, r: int, abandon_on_cancel: bool = False
) -> FixedParams:
    """Round ``r``'s local training from ``base`` on a worker thread (seeded by round)."""
    training = ctx.chain_port.deployment.training
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
        ),
        abandon_on_cancel=abandon_on_cancel,  # type: ignore[call-arg]  # stale trio stubs
    )
    ctx.metrics.inc("phase_seconds_total", time.monotonic() - started, phase="train")
    return delta


async def start_of(ctx: NodeContext, r: int, trained_on: FixedParams) -> FixedParams:
    """Where round ``r``'s training starts once the round is open: its base, which under
    staleness 1 is newer than ``trained_on`` (the base the header names; node/learning/eager.py)."""
    round_base = ctx.state.get(r).base_cid
    if ctx.chain_port.deployment.training.staleness == 0 or round_base is None:
        return trained_on
    return await load_model(ctx, round_base)


async def train_ahead(ctx: NodeContext, r: int, base_cid: str) -> FixedParams:
    """Round ``r``'s delta trained before the round opens (node/ahead.py), from round
    r - 1's base ``base_cid`` plus the delta this node committed in round r - 1."""
    base = await load_model(ctx, base_cid)
    start = eager_start(base, await committed_delta(ctx, r - 1))
    return await train_delta(ctx, start, r, abandon_on_cancel=True)


async def committed_delta(ctx: NodeContext, r: int) -> FixedParams | None:
    """The delta this node committed in round ``r``, decoded from its own stored update
    (exactly what the round aggregates from it), or None when it has none stored."""
    cid = ctx.state.get(r).update_cid
    if cid is None or not ctx.blobs.has(cid):
        return None
    try:
        blob = await ctx.blobs.get(cid, what="own update")
        return decode_update(blob, ctx.chain_port.deployment.training.update_codec)[1]
    except FedchainError as exc:
        log.warning("round %d: own update unreadable (%s); training ahead from the base", r, exc)
        return None


def retrain_from(ctx: NodeContext, base: FixedParams, data: Dataset, seed: int) -> FixedParams:
    """A delta trained from ``base`` on ``data`` (plain SGD): what a crafting behaviour
    estimates the honest updates with."""
    return compute_delta(
        ctx.task, base, data, epochs=ctx.cfg.epochs, lr=ctx.cfg.lr,
        batch_size=ctx.cfg.batch_size, seed=seed,
    )  # fmt: skip


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


async def send_commit(
    ctx: NodeContext, r: int, cid: str, round_checked: bool = False
) -> str | None:
    """Commit ``cid`` until the chain shows it (a successful receipt, else read back);
    None if the commit window closed first. ``round_checked``: the caller has just read
    the round (not reopened), so the first send goes without reading it again."""
    crash_point("commit_intent", r)
    while True:
        if not round_checked:
            await round_info(ctx, r)  # never into a reopened round: its base may differ
        round_checked = False
        error: ChainError | None = None
        try:
            receipt = await ctx.chain_port.commit(r, cid)
        except ChainUnreachable:
            pass  # it may have reached the chain all the same: read it back below
        except ChainError as exc:  # e.g. AlreadyCommitted after a resend, or too late
            error = exc
        else:
            count_gas(ctx, "commit", receipt)
            crash_point("committed", r)
            return committed(ctx, r, cid)  # mined and succeeded: the chain holds it
        if await ctx.chain_port.commitment_cid(r, ctx.address) is not None:
            return committed(ctx, r, cid)
        info = await round_info(ctx, r)
        if not info.commit_open(await ctx.chain_port.chain_time()):
            why = f" ({error})" if error else ""
            log.warning("round %d: commit not on chain and the window closed%s", r, why)
            ctx.metrics.inc("commits_missed_total")
            return None
        if error is not None:
            raise error
        log.info("round %d: commit not on chain after an RPC failure; sending it again", r)


def committed(ctx: NodeContext, r: int, cid: str) -> str:
    ctx.state.update(r, committed=True)
    log.info("round %d: committed update %s", r, cid)
    return cid


async def keep_commit(ctx: NodeContext, r: int, info: RoundInfo, now: int) -> None:
    """While the commit window is open, send our commit again if the chain lost it."""
    row = ctx.state.get(r)
    if not row.committed or row.update_cid is None or not info.commit_open(now):
        return
    if await ctx.chain_port.commitment_cid(r, ctx.address) is None:
        lost(ctx, r, "committed")
        await send_commit(ctx, r, row.update_cid)
