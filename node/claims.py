"""Claims: this node's contributor and voter rewards, claimed once the chain allows and
claimed again when a restarted chain lost them.

With ``auto_claim`` the claims run in ``ClaimQueue``, a task beside the round loop, off the
round's critical path: the next round can open and this node train and commit while its
claim transactions of the round before are sent. The journal is the source of what is
owed: a round's record keeps ``reward`` (with ``earned`` and ``proof``) before its claim
is sent, and ``reconcile_claims`` (queued once per round, and at start-up) claims what the
chain does not show, so a node killed in between still claims.
"""

from __future__ import annotations

import json
import logging
import math

import trio

from node.chain.errors import TransactionRejected
from node.commit import count_gas, lost
from node.context import NodeContext
from node.errors import ChainError
from node.operator.format import fed

log = logging.getLogger(__name__)


async def claim(ctx: NodeContext, r: int, amount: int, proof: list[bytes]) -> None:
    """Claim this node's contributor reward of round ``r`` unless the journal shows it
    claimed. A refused claim is read back: claimed already (by this node before a restart,
    or by the operator) counts as done; the chain is not asked first, the claim answers."""
    chain = ctx.chain_port
    async with ctx.claim_lock:
        if ctx.state.get(r).claimed:
            return
        try:
            receipt = await chain.claim(r, amount, proof)
        except ChainError:
            # Claimed before (or by someone else with this key meanwhile): done all the same.
            if not await chain.is_claimed(r, ctx.address):
                raise
            ctx.state.update(r, claimed=True)
            return
        count_gas(ctx, "claim", receipt)
        ctx.metrics.inc("rewards_claimed_tokens_total", amount / 10**18)  # as the chain shows
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
        info, (outcome, weight, claimed), current, now = await chain.voter_claim_view(
            r, ctx.address
        )
        if outcome != info.outcome_key or not weight or not info.winning_weight:
            return 0
        amount = info.voter_pool * weight // info.winning_weight
        if claimed or amount == 0:
            return amount
        if r == current and now < info.vote_deadline:  # still locked
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


HOLD_MAX_S = 10.0  # the longest a recorded round's claims wait for the next commit


class ClaimQueue:
    """Claims run one at a time in a task beside the round loop (``run``); the round loop
    only queues rounds: ``finished(r)`` once round ``r``'s record is kept, and
    ``reconcile(r)`` when round ``r`` is the chain's current round.

    After ``finished`` the claims hold until ``resume`` (this node committed in the next
    round) or ``HOLD_MAX_S``: between a round's last vote and the next round's commits
    every node opens, trains and commits, and claim transactions there would compete with
    that for the CPU, the chain and this account's nonce."""

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        self._send, self._receive = trio.open_memory_channel[tuple[str, int]](math.inf)
        self._done = trio.Event()
        self._go = trio.Event()
        self._go.set()

    def finished(self, r: int) -> None:
        """Round ``r`` is recorded: claim its contributor reward (if the record has one)
        and the voter rewards of the rounds before it, once the next round's commit is
        sent."""
        if self._go.is_set():
            self._go = trio.Event()
        self._put("finished", r)

    def resume(self) -> None:
        """The claims held since the last ``finished`` may go."""
        self._go.set()

    def reconcile(self, current: int) -> None:
        """Claim again what the chain lost of the rounds before ``current``."""
        self._put("reconcile", current)

    def _put(self, kind: str, r: int) -> None:
        try:
            self._send.send_nowait((kind, r))
        except trio.ClosedResourceError:  # stopping: reconcile_claims claims it at restart
            log.info("round %d: claims left for the next start", r)

    async def run(self) -> None:
        try:
            async with self._receive:
                async for kind, r in self._receive:
                    with trio.move_on_after(HOLD_MAX_S):
                        await self._go.wait()
                    await self._one(kind, r)
        finally:
            self._done.set()

    async def drain(self) -> None:
        """Take no more requests and return once the queued ones are done."""
        self._send.close()
        self.resume()
        await self._done.wait()

    async def _one(self, kind: str, r: int) -> None:
        ctx = self._ctx
        try:
            if kind == "reconcile":
                await reconcile_claims(ctx, r)
                return
            await claim_recorded(ctx, r)
            await claim_voter_rewards(ctx, r)
        except ChainError as exc:  # claimed later: reconcile_claims reads the journal
            log.warning("round %d: claims not done yet: %s", r, exc)


async def claim_recorded(ctx: NodeContext, r: int) -> None:
    """Claim the contributor reward that round ``r``'s record keeps for ``auto_claim``."""
    record = json.loads(ctx.state.get(r).record or "{}")
    if not record.get("reward"):
        return
    await forget_lost_claim(ctx, r)
    proof = [bytes.fromhex(p) for p in record["proof"]]
    await claim(ctx, r, int(record["earned"]), proof)
