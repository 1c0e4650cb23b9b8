"""A node's DP step in a round: check the budget, record the spend, clip and noise.

Joins the pure privacy functions with the node (context, chain reads, metrics); called by
``node.round.train_and_commit``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import trio

from node.context import NodeContext
from node.learning.local import shapes_of
from node.learning.spec import TrainingSpec
from node.privacy import ledger
from node.privacy.accountant import DpRound, dp_round, epsilons, exceeds_budget
from node.privacy.bound import update_norm_bound
from node.privacy.mechanism import privatize
from node.update.fixedpoint import FixedParams

log = logging.getLogger(__name__)
_warming: threading.Thread | None = None


async def participants(ctx: NodeContext, r: int) -> int:
    """K of round ``r``: its committee's size, else the active participants' count."""
    committee = await ctx.chain_port.committee(r)
    if committee:
        return len(committee)
    active = [p for p in await ctx.chain_port.participants() if p.active]
    return max(len(active), 1)


async def plan(ctx: NodeContext, r: int) -> tuple[bool, DpRound | None]:
    """(may train, the round's DP entry or None when DP is off). False once publishing
    another update would take this node's epsilon past ``dp_epsilon_budget`` (logged and
    counted as a sat-out round)."""
    spec = ctx.chain.deployment.training
    if spec.dp_mode == "off":
        return True, None
    warm_accountant(spec)
    entry = dp_round(spec, r, await participants(ctx, r))
    spent = [e for e in ledger.load(ctx.cfg.data_dir) if e.round != r]
    budget = ctx.cfg.dp_epsilon_budget
    # off the event loop: the accountant's first use waits for opacus' import
    if await trio.to_thread.run_sync(exceeds_budget, spent, entry, spec.dp_delta, budget):
        eps = epsilons(spent, spec.dp_delta)[0]
        log.warning(
            "round %d: privacy budget: epsilon %.3f after %d rounds, one more would exceed "
            "dp_epsilon_budget %g; sitting this round out",
            r,
            eps,
            len(spent),
            ctx.cfg.dp_epsilon_budget,
        )
        ctx.metrics.inc("rounds_sat_out_total", reason="privacy_budget")
        return False, None
    return True, entry


def warm_accountant(spec: TrainingSpec) -> None:
    """With DP on, import opacus on a side thread (once per process; the daemon calls this
    at start, ``plan`` again in case), so that the accountant does not hold up a round."""
    global _warming
    if _warming is None and spec.dp_mode != "off":
        _warming = threading.Thread(target=_import_accountant, name="opacus-import", daemon=True)
        _warming.start()


def _import_accountant() -> None:
    from opacus.accountants import RDPAccountant  # noqa: F401


def publish(ctx: NodeContext, delta: FixedParams, entry: DpRound) -> FixedParams:
    """Record the spend (before anything leaves the node), then clip and noise ``delta``.
    The epsilons are worked out by ``report`` after the vote: the accountant (and its
    first import of opacus, seconds on a loaded machine) stays off the way to the commit."""
    spec = ctx.chain.deployment.training
    ledger.record(ctx.cfg.data_dir, entry)
    bound = update_norm_bound(spec, shapes_of(delta), ctx.cfg.norm_bound)
    return privatize(delta, spec, entry.participants, bound)


def report(ctx: NodeContext) -> dict[str, Any] | None:
    """This node's privacy spend so far (for the round record; also the ``dp_*`` gauges),
    None when DP is off."""
    spec = ctx.chain.deployment.training
    if spec.dp_mode == "off":
        return None
    rounds = ledger.load(ctx.cfg.data_dir)
    eps, eps_update = epsilons(rounds, spec.dp_delta)
    ctx.metrics.set("dp_epsilon", eps)
    ctx.metrics.set("dp_epsilon_update", eps_update)
    ctx.metrics.set("dp_rounds", len(rounds))
    return {
        "mode": spec.dp_mode,
        "epsilon": eps,
        "epsilon_update": eps_update,
        "delta": spec.dp_delta,
        "rounds": len(rounds),
        "budget": ctx.cfg.dp_epsilon_budget,
    }
