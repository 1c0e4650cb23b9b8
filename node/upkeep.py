"""Chores any node does for the network between rounds: report stakers that stopped voting,
and return what is left of finished rounds' reward pools to the treasury.

Both are permissionless contract calls that every honest node may race to make; losing the
race (the contract refuses the second call) is normal and only counted.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from node.chain.client import RoundStatus
from node.chain.errors import TransactionRejected
from node.errors import ChainError

if TYPE_CHECKING:
    from node.context import NodeContext

log = logging.getLogger(__name__)


async def report_inactive(ctx: NodeContext, r: int) -> int:
    """If round ``r - 1`` failed, report every other active participant that missed voting
    in ``inactivity_rounds`` settled rounds in a row (the contract leaks part of its stake
    and deactivates it, so the next snapshot excludes it). Returns how many it reported."""
    if r < 2:
        return 0
    if (await ctx.chain_port.round_info(r - 1)).status is not RoundStatus.FAILED:
        return 0
    required = (await ctx.chain_port.params()).inactivity_rounds
    participants = await ctx.chain_port.participants()
    others = [p.address for p in participants if p.active and p.address != ctx.address]
    missed = await ctx.chain_port.missed_rounds_of(others) if others else {}
    reported = 0
    for address, count in missed.items():
        if count < required:
            continue
        try:
            await ctx.chain_port.report_inactive(address)
        except TransactionRejected as exc:
            if exc.error == "NotInactive":  # another node reported it first
                ctx.metrics.inc("inactive_reports_lost_total")
            else:
                log.warning("reporting %s as inactive: %s", address, exc)
            continue
        except ChainError as exc:
            log.warning("reporting %s as inactive: %s", address, exc)
            continue
        reported += 1
        ctx.metrics.inc("inactive_reported_total")
        log.info("reported %s: it missed voting in %d rounds in a row", address, count)
    return reported


async def sweep_ended(ctx: NodeContext) -> list[int]:
    """Sweep the finalized rounds in this node's records whose claim period ended, oldest
    first, each once (marked ``swept`` in its record, whoever swept it). Stops at the first
    round whose claim period still runs: later rounds' periods end later, unless the owner
    shortened the claim period since, which only delays their sweep. Returns the rounds
    this node swept."""
    now = await ctx.chain_port.chain_time()
    swept = []
    for record in ctx.state.records():
        if record.get("status") != "finalized" or record.get("swept"):
            continue
        r = int(record["round"])
        deadline = await ctx.chain_port.claim_deadline(r)
        if now < deadline:
            break
        try:
            await ctx.chain_port.sweep(r)
        except TransactionRejected as exc:
            if exc.error == "ClaimPeriodActive":  # the latest block is older than `now`
                break
            if exc.error == "NothingToSweep":  # all claimed, or another node swept first
                ctx.metrics.inc("sweeps_lost_total")
            else:  # e.g. a restarted chain that lost the round: do not retry forever
                log.warning("round %d: sweep refused: %s", r, exc)
        except ChainError as exc:
            log.warning("round %d: sweep failed, retrying next round: %s", r, exc)
            break
        else:
            swept.append(r)
            ctx.metrics.inc("sweeps_total")
            log.info("round %d: swept its unclaimed rewards back to the treasury", r)
        record["swept"] = True
        ctx.state.update(r, record=json.dumps(record, sort_keys=True))
    return swept


async def upkeep(ctx: NodeContext, r: int) -> None:
    """Once per round, after this node's part in round ``r``: both chores."""
    await report_inactive(ctx, r)
    await sweep_ended(ctx)
