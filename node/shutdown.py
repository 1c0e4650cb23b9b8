"""Stopping on a signal: keep serving this round's update until peers could have fetched it."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

import trio

from node.chain.client import RoundStatus
from node.context import NodeContext
from node.status_file import write_status
from node.waits import block_seen, next_block

log = logging.getLogger(__name__)

CLAIMS_DRAIN_S = 30.0  # on a stop signal, at most this long for queued claims (else at restart)


async def stop_on_signal(ctx: NodeContext, scope: trio.CancelScope) -> None:
    """SIGINT/SIGTERM: stop taking part in rounds (state is on disk before every action).

    If this node committed an update in the current round, others may still be fetching
    it: keep serving blobs until the round's exchange deadline, then stop. A second
    signal stops at once.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            async for signum in signals:
                name = signal.Signals(signum).name
                if ctx.rounds_scope.cancel_called:
                    log.info("%s again: stopping now", name)
                    scope.cancel()
                    return
                log.info("%s received: shutting down (again to stop at once)", name)
                ctx.rounds_scope.cancel()
                nursery.start_soon(serve_then_stop, ctx, scope)


async def serve_then_stop(ctx: NodeContext, scope: trio.CancelScope) -> None:
    r = ctx.current_round
    with trio.CancelScope() as serving:
        while True:
            seen = block_seen(ctx)
            left = await serving_left(ctx, r)
            if left is None:
                break
            end, seconds = left
            # bounds the wait by the local clock too, should the chain become unreachable
            serving.deadline = min(serving.deadline, trio.current_time() + seconds)
            when = datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds")
            phase = f"stopping: serving blobs until {when} (round {r} exchange deadline)"
            if ctx.phase != phase:
                log.info("%s; signal again to stop now", phase)
                write_status(ctx, phase)
            await next_block(ctx, seen)
    if ctx.claims is not None:  # the claims of the rounds just recorded, if they go quickly
        with trio.move_on_after(CLAIMS_DRAIN_S):
            await ctx.claims.drain()
    scope.cancel()


async def serving_left(ctx: NodeContext, r: int) -> tuple[int, int] | None:
    """(chain time, seconds left) until which peers may still fetch this node's update of
    round ``r``: the exchange deadline, which moves earlier if the commit window closes
    early. None once it passed, or if this node has no update in a live round."""
    row = ctx.state.get(r)
    if r < 1 or row.done or row.update_cid is None:
        return None
    if await ctx.chain_port.commitment_cid(r, ctx.address) is None:
        return None
    info, now = await ctx.chain_port.round_view(r)
    if info.status not in (RoundStatus.OPEN, RoundStatus.FINALIZED):
        return None
    end = info.vote_opens_at + (info.vote_deadline - info.vote_opens_at) // 2
    return (end, end - now) if now < end else None
