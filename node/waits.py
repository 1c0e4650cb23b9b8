"""Waiting on the chain for a round to reach a point (commit window closed, round settled)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from node.chain.client import RoundInfo, RoundStatus
from node.context import NodeContext
from node.errors import ChainError


class RoundLost(ChainError):
    """The chain no longer knows round ``round`` (restarted from a state dump older than the
    round's opening): the round loop takes part again once the round reopens."""

    def __init__(self, r: int) -> None:
        super().__init__(f"round {r}: the chain lost its opening (restarted from an older state)")
        self.round = r


async def round_info(ctx: NodeContext, r: int) -> RoundInfo:
    """Round ``r`` as the chain has it now; ``RoundLost`` if the chain forgot it, or forgot
    and opened it again (another opening time than the journal's)."""
    info = await ctx.call(ctx.chain.round_info, r)
    opened_at = ctx.state.get(r).opened_at
    if info.status is RoundStatus.NONE or opened_at not in (None, info.opened_at):
        raise RoundLost(r)
    return info


async def wait_until(
    ctx: NodeContext,
    r: int,
    done: Callable[[RoundInfo, int], bool],
    keep: Callable[[RoundInfo, int], Awaitable[None]] | None = None,
) -> RoundInfo:
    """Poll round ``r`` until ``done``; meanwhile ``keep`` reads back (and resends) this
    node's own action when a ``Recheck`` is due."""
    recheck = Recheck(ctx)
    while True:
        info = await round_info(ctx, r)
        now = await ctx.call(ctx.chain.chain_time)
        if done(info, now):
            return info
        if keep is not None and recheck.due():
            await keep(info, now)
        await trio.sleep(ctx.cfg.poll_interval)


def commit_closed(info: RoundInfo, now: int) -> bool:
    return info.closed_at > 0 or now >= info.commit_deadline


def round_settled(info: RoundInfo, now: int) -> bool:
    return info.status is not RoundStatus.OPEN or now >= info.vote_deadline


RECHECK_S = 5.0  # how often a wait reads back this node's own commit or vote


@dataclass
class Recheck:
    """When a wait reads back this node's last action: after every chain outage (a chain
    restarted from an older state may have lost it) and every ``RECHECK_S`` seconds."""

    ctx: NodeContext
    outages: int = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.outages, self.at = self.ctx.link.outages, trio.current_time()

    def due(self) -> bool:
        now = trio.current_time()
        if self.ctx.link.outages == self.outages and now - self.at < RECHECK_S:
            return False
        self.outages, self.at = self.ctx.link.outages, now
        return True
