"""Claims: this node's contributor and voter rewards, claimed once the chain allows and
claimed again when a restarted chain lost them."""

from __future__ import annotations

import json
import logging

from node.chain.errors import TransactionRejected
from node.commit import count_gas, lost
from node.context import NodeContext
from node.errors import ChainError
from node.operator.format import fed

log = logging.getLogger(__name__)


async def claim(ctx: NodeContext, r: int, amount: int, proof: list[bytes]) -> None:
    """Claim this node's contributor reward of round ``r`` unless the chain shows it claimed
    (by this node before a restart, or by the operator)."""
    chain = ctx.chain_port
    async with ctx.claim_lock:
        if ctx.state.get(r).claimed or await chain.is_claimed(r, ctx.address):
            ctx.state.update(r, claimed=True)
            return
        try:
            receipt = await chain.claim(r, amount, proof)
        except ChainError:
            # Someone else with this key claimed it meanwhile: done all the same.
            if not await chain.is_claimed(r, ctx.address):
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
    chain = ctx.chain_port
    async with ctx.claim_lock:
        info = await chain.round_info(r)
        outcome, weight, claimed = await chain.vote_of(r, ctx.address)
        if outcome != info.outcome_key or not weight or not info.winning_weight:
            return 0
        amount = info.voter_pool * weight // info.winning_weight
        if claimed or amount == 0:
            return amount
        locked = r == await chain.current_round()
        if locked and await chain.chain_time() < info.vote_deadline:
            return None
        try:
            receipt = await chain.claim_voter_reward(r)
        except ChainError:
            if not (await chain.vote_of(r, ctx.address))[2]:
                raise
            return amount  # claimed meanwhile by the operator with this key
        count_gas(ctx, "claim_voter_reward", receipt)
        ctx.metrics.inc("voter_rewards_claimed_tokens_total", amount / 10**18)
    log.info("round %d: claimed voter reward %s", r, fed(amount))
    return amount


async def forget_lost_claim(ctx: NodeContext, r: int) -> None:
    """A claim the journal has but the chain lacks counts as not made (claims never expire)."""
    if ctx.state.get(r).claimed and not await ctx.chain_port.is_claimed(r, ctx.address):
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
