"""Whose turn it is to open the next round, so that one node calls ``advance`` instead of all.

When a round's grace ends every node, observers too, would call ``advance`` (an eth_call
gas estimate, and a transaction from the first): N estimates at the moment the next round
opens, on the same CPUs that run it. Instead the nodes whose commitments the chain holds
for the round are ranked by keccak256(round, address) (the same order on every node, a
different first node each round); the first tries at once, the second ``STEP_S`` chain
seconds later if the round has not moved, the other committers after ``2 * STEP_S``, and
everyone else (observers, members without a commitment) after ``3 * STEP_S``. A dead or
slow first node therefore delays the next round by ``STEP_S``, never stops it.

Only a finalized round is staggered: a round that missed its quorum may have no live
committer, and failures are rare enough for everyone to try at once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from eth_abi import encode
from eth_utils import keccak

from node.chain.client import RoundInfo, RoundStatus

if TYPE_CHECKING:
    from node.context import NodeContext

STEP_S = 2  # chain seconds between turns: the first's advance mines in the next 1-s block
TURNS = 3  # the first, the second, the other committers; then everyone else


def ticket(r: int, address: str) -> bytes:
    """A node's place in round ``r``'s advance order (lower goes first)."""
    return keccak(encode(["uint256", "address"], [r, address]))


def advance_rank(r: int, me: str, committers: Iterable[str]) -> int | None:
    """``me``'s position among ``committers`` ordered by ``ticket``; None if not among them.

    ``ValueError`` for a negative round."""
    if r < 0:
        raise ValueError(f"round must be >= 0, got {r}")
    mine = me.lower()
    order = sorted({a.lower() for a in committers}, key=lambda a: ticket(r, a))
    return order.index(mine) if mine in order else None


def advance_delay(rank: int | None) -> int:
    """Chain seconds after the round may be advanced that a node of ``rank`` waits."""
    if rank is None:
        return TURNS * STEP_S
    return min(rank, TURNS - 1) * STEP_S


class AdvanceTurns:
    """This node's delay for each round, read once per round: ``committers(r)`` (the
    chain's commitments) is read only by a node that committed in the round."""

    def __init__(self, me: str, committers: Callable[[int], Awaitable[Iterable[str]]]) -> None:
        self._me = me
        self._committers = committers
        self._round = -1
        self._delay = 0

    async def delay(self, info: RoundInfo, committed: bool) -> int:
        if info.status is not RoundStatus.FINALIZED:
            return 0
        r = info.round
        if r != self._round:
            rank = advance_rank(r, self._me, await self._committers(r)) if committed else None
            self._round, self._delay = r, advance_delay(rank)
        return self._delay


async def round_committers(ctx: NodeContext, r: int) -> Iterable[str]:
    """Round ``r``'s committers: from this node's record of the round when it has one (its
    exchange read the commitments once the window closed, and each was verified or
    rejected), which spares a log read between finalization and the advance; else the
    chain's ``Committed`` events."""
    record = json.loads(ctx.state.get(r).record or "{}")
    verified, rejected = record.get("verified_authors"), record.get("rejected")
    if isinstance(verified, list) and isinstance(rejected, dict):
        return [*verified, *rejected]
    return (await ctx.chain_port.commitments(r)).keys()
