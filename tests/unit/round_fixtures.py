"""A round as the chain reports it, for unit tests that script the chain."""

from __future__ import annotations

from node.chain.client import RoundInfo, RoundStatus

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
