"""The deferred vote (node/abstain.py's second rule): a node lacking an update waits until
the defer point, then votes its outcome or abstains, from the votes already on chain."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from node.abstain import defer_point, deferred_decision
from node.chain.client import RoundInfo, RoundStatus
from node.context import NodeContext
from node.waits import wait_until

log = logging.getLogger(__name__)


def lacks_updates(rejected: dict[str, str]) -> bool:
    """Whether this node lacks a committed update at the exchange deadline."""
    return "unavailable" in rejected.values()


def past_defer_point(info: RoundInfo, now: int) -> bool:
    return info.status is not RoundStatus.OPEN or now >= defer_point(
        info.vote_opens_at, info.vote_deadline
    )


async def defer_vote(
    ctx: NodeContext, r: int, model_cid: str, root: bytes, slash: Sequence[str]
) -> dict[str, Any] | None:
    """Wait until round ``r``'s defer point (or its settling, if sooner) and decide: None to
    vote this outcome, else the abstention for the record (reason, stake per outcome key)."""
    ctx.metrics.inc("votes_deferred_total")
    log.info("round %d: lacking an update: vote deferred to 3/4 of the vote window", r)
    info = await wait_until(ctx, r, past_defer_point)
    weights: dict[bytes, int] = {}
    for v in await ctx.chain_port.votes(r):
        weights[v.outcome_key] = weights.get(v.outcome_key, 0) + v.weight
    ours = (await ctx.chain_port.outcome_id(model_cid, root, list(slash)))[:16]
    finalized = info.outcome_key if info.status is RoundStatus.FINALIZED else None
    reason = deferred_decision(ours, weights, info.stake_snapshot, finalized)
    if reason is None:
        return None
    ctx.metrics.inc("votes_abstained_total", reason=reason)
    log.warning(
        "round %d: abstaining (%s): this node lacks an update and other nodes voted another "
        "outcome (stake per outcome: %s of %d)",
        r,
        reason,
        {k.hex(): w for k, w in sorted(weights.items())},
        info.stake_snapshot,
    )
    return {
        "reason": reason,
        "ours": ours.hex(),
        "votes": {k.hex(): w for k, w in sorted(weights.items())},
        "stake_snapshot": info.stake_snapshot,
    }
