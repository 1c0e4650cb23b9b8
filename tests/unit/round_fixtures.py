"""A round as the chain reports it, for unit tests that script the chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from node.chain.client import RoundInfo, RoundStatus
from node.metrics import Metrics
from node.ports import ChainPort
from node.state import NodeState

# Round 1, open: commit deadline 200, vote deadline 300 (chain time), nothing committed yet.
OPEN_ROUND = RoundInfo(
    round=1,
    status=RoundStatus.OPEN,
    opened_at=100,
    commit_deadline=200,
    closed_at=0,
    vote_deadline=300,
    eligible_count=3,
    commit_count=0,
    stake_snapshot=0,
    reward_root=b"",
    contributor_pool=0,
    voter_pool=0,
    outcome_key=b"",
    winning_weight=0,
    contributor_claimed=0,
    voter_claimed=0,
    finalized_at=0,
)


class InlineLink:
    """A ChainLink stand-in that calls the scripted chain inline (no thread, no retry), so
    tests under trio's MockClock keep their virtual time."""

    def __init__(self) -> None:
        self.metrics = Metrics()  # the port counts its reads here

    async def call(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    send = call


def inline_port(chain: Any) -> ChainPort:
    """The node's async chain port over a scripted chain."""
    return ChainPort(chain, InlineLink())  # type: ignore[arg-type]


@dataclass
class AccountCtx:
    """What the claim and upkeep code reads of a node context: the chain (a fake, behind
    the port inline: no worker thread, so MockClock's virtual time cannot jump past a
    call in flight), the journal, metrics, the account and its claim lock."""

    chain: Any
    state: NodeState
    metrics: Metrics = field(default_factory=Metrics)
    address: str = "0xMe"
    claim_lock: trio.Lock = field(default_factory=trio.Lock)

    @property
    def chain_port(self) -> ChainPort:
        return inline_port(self.chain)
