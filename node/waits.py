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


class RoundRewound(RoundLost):
    """The chain is back in round ``round``'s commit window after this node saw it close
    (restarted from a state taken before the close, e.g. without our commit): what the
    node exchanged and aggregated is void, so the round loop takes part afresh."""

    def __init__(self, r: int) -> None:
        ChainError.__init__(self, f"round {r}: the chain is back in its commit window")
        self.round = r


async def round_info(ctx: NodeContext, r: int) -> RoundInfo:
    """Round ``r`` as the chain has it now; ``RoundLost`` if the chain forgot it, or forgot
    and opened it again (another opening time than the journal's)."""
    return known(ctx, await ctx.chain_port.round_info(r))


async def round_view(ctx: NodeContext, r: int) -> tuple[RoundInfo, int]:
    """``round_info`` and the chain time, in one batched read."""
    info, now = await ctx.chain_port.round_view(r)
    saw_time(ctx, now)
    return known(ctx, info), now


def saw_time(ctx: NodeContext, now: int) -> None:
    """Tell the chain watch the chain time a read just gave: without ``newHeads`` its
    clock for deadlines (node/chain/watch.py)."""
    watch = getattr(ctx, "watch", None)  # (test doubles of the context may have none)
    if watch is not None:
        watch.saw_time(now)


def known(ctx: NodeContext, info: RoundInfo) -> RoundInfo:
    opened_at = ctx.state.get(info.round).opened_at
    if info.status is RoundStatus.NONE or opened_at not in (None, info.opened_at):
        raise RoundLost(info.round)
    return info


WAKE_FALLBACK_S = 2.0  # the longest a wait trusts the chain watch to bring a new block


def block_seen(ctx: NodeContext) -> int:
    """The chain watch's latest block: take it before a read, then ``next_block`` after."""
    return ctx.watch.head if ctx.watch is not None else 0


async def next_block(ctx: NodeContext, seen: int, within: float = WAKE_FALLBACK_S) -> None:
    """Until the chain watch sees a block after ``seen`` (deadlines are judged by block
    timestamps and every transaction mines one, so nothing a wait looks for changes in
    between). ``within`` seconds at most (``WAKE_FALLBACK_S``): a watch that lost its
    connection, or a chain restarted from an older state (its head moved back), never
    stalls a wait. Without a watch (``chain_watch = false``): ``poll_interval``."""
    if ctx.watch is None:
        await trio.sleep(min(within, ctx.cfg.poll_interval))
    else:
        await ctx.watch.wait(seen, min(within, WAKE_FALLBACK_S))


def round_marks(ctx: NodeContext) -> int | None:
    """The chain watch's count of round-changing logs, None where it has none (no watch,
    polling, or no log subscription): take it before a read, then ``next_change`` after."""
    watch = ctx.watch
    if watch is None or not watch.round_logs_live:
        return None
    return watch.round_marks


def registry_marks(ctx: NodeContext) -> int | None:
    """The chain watch's count of registry-changing logs (plus one per subscription
    change), None where it has no log subscription (read the registry's counts anyway)."""
    watch = ctx.watch
    if watch is None or not watch.round_logs_live:
        return None
    return watch.registry_marks


def settle_marks(ctx: NodeContext) -> int | None:
    """The chain watch's count of settle logs (``Finalized``, ``RoundFailed``; new sessions
    too), None where it has no log subscription: ``round_marks`` for a wait that only a
    round's settling ends (``round_settled``)."""
    watch = ctx.watch
    if watch is None or not watch.round_logs_live:
        return None
    return watch.events


def next_deadline(info: RoundInfo, now: int) -> int | None:
    """The first of round ``info``'s deadlines after chain time ``now`` (None: none left)."""
    later = [d for d in (info.commit_deadline, info.vote_deadline) if d > now]
    return min(later) if later else None


async def next_change(
    ctx: NodeContext,
    seen: int,
    marks: int | None,
    until: int | None,
    within: float,
    settling: bool = False,
) -> None:
    """Until the round may have changed: a round-changing log after ``marks`` or a block
    reaching chain time ``until`` (a deadline), where the watch counts those logs; else
    ``next_block``. Blocks that carry only reward claims wake no read. ``settling``:
    ``marks`` counts settle logs (``settle_marks``), and only those wake the wait."""
    if marks is None or until is None or ctx.watch is None:
        await next_block(ctx, seen, within)
    elif settling:
        await ctx.watch.wait_settle(marks, until, min(within, WAKE_FALLBACK_S))
    else:
        await ctx.watch.wait_round(marks, until, min(within, WAKE_FALLBACK_S))


async def wait_until(
    ctx: NodeContext,
    r: int,
    done: Callable[[RoundInfo, int], bool],
    keep: Callable[[RoundInfo, int], Awaitable[None]] | None = None,
    seen: Callable[[RoundInfo], Awaitable[None]] | None = None,
    every: float | None = None,
) -> RoundInfo:
    """Read round ``r`` (one batched read) on every new block until ``done``; meanwhile
    ``keep`` reads back (and resends) this node's own action when a ``Recheck`` is due, and
    ``seen`` gets every read (e.g. to start fetching commitments as they land). ``every``:
    read every that many seconds instead of on every block (a wait nothing else waits on,
    e.g. an observer's: at 32 nodes, per-block reads by every observer kept the CPUs busy).
    A wait for ``round_settled`` wakes on the settle logs only (and its deadline), not on
    each other member's vote: at K = 8 those were ~7 reads a member-round."""
    recheck = Recheck(ctx)
    settling = done is round_settled
    while True:
        head = block_seen(ctx)
        marks = settle_marks(ctx) if settling else round_marks(ctx)
        info, now = await round_view(ctx, r)
        if seen is not None:
            await seen(info)
        if done(info, now):
            return info
        if every is not None:
            await trio.sleep(every)
            continue
        until = next_deadline(info, now)
        if keep is None:
            await next_change(ctx, head, marks, until, WAKE_FALLBACK_S, settling)
            continue
        if recheck.due():
            await keep(info, now)
        await next_change(ctx, head, marks, until, recheck.left(), settling)


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

    def left(self) -> float:
        """Seconds until the next read-back is due (barring an outage)."""
        return max(0.0, self.at + RECHECK_S - trio.current_time())

    def due(self) -> bool:
        now = trio.current_time()
        if self.ctx.link.outages == self.outages and now - self.at < RECHECK_S:
            return False
        self.outages, self.at = self.ctx.link.outages, now
        return True
