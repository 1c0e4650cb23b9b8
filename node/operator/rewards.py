"""Contributor rewards (Merkle proofs from the node's records) and voter rewards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.chain.client import ChainClient, RoundStatus
from node.errors import FedchainError
from node.operator.format import fed, in_words
from node.state import NodeState

MAX_CLAIM_BATCH = 32  # FedCoordinator.MAX_CLAIM_BATCH


def node_records(node_dir: Path | None) -> list[dict[str, Any]]:
    if node_dir is None:
        return []
    path = node_dir / "state.sqlite"
    if not path.is_file():
        raise FedchainError(f"no node state at {path}: is {node_dir} a node data directory?")
    state = NodeState(path)
    try:
        return state.records()
    finally:
        state.close()


def voter_claims(chain: ChainClient) -> list[dict[str, Any]]:
    """Voter rewards of this account: every round it voted the winning outcome of."""
    current = chain.current_round()
    now = chain.chain_time()
    out = []
    for vote in chain.votes():
        if vote.voter != chain.address:
            continue
        info = chain.round_info(vote.round)
        if info.status is not RoundStatus.FINALIZED or vote.outcome_key != info.outcome_key:
            continue
        _, weight, claimed = chain.vote_of(vote.round)
        amount = info.voter_pool * weight // info.winning_weight if info.winning_weight else 0
        unlocked = vote.round != current or now >= info.vote_deadline
        out.append(
            {
                "round": vote.round,
                "amount": amount,
                "claimed": claimed,
                "unlocks_in": 0 if unlocked else info.vote_deadline - now,
            }
        )
    return out


def contributor_claims(chain: ChainClient, node_dir: Path | None) -> list[dict[str, Any]]:
    """Contributor rewards the node's state recorded, with their on-chain claim status."""
    out = []
    for record in node_records(node_dir):
        earned = int(record.get("earned", 0))
        if earned <= 0:
            continue
        r = int(record["round"])
        out.append(
            {
                "round": r,
                "amount": earned,
                "proof": list(record.get("proof", [])),
                "claimed": chain.is_claimed(r),
            }
        )
    return out


def claim_all(
    chain: ChainClient, node_dir: Path | None, *, voter: bool = True, only: int | None = None
) -> dict[str, Any]:
    """Claim every unclaimed contributor reward (from the node's records) and voter reward."""
    contrib = [
        c
        for c in contributor_claims(chain, node_dir)
        if not c["claimed"] and (only is None or c["round"] == only)
    ]
    votes = [
        v
        for v in (voter_claims(chain) if voter else [])
        if not v["claimed"] and v["amount"] > 0 and (only is None or v["round"] == only)
    ]
    notes = [
        f"voter reward of round {v['round']} ({fed(v['amount'])}) unlocks in "
        f"{in_words(v['unlocks_in'])}"
        for v in votes
        if v["unlocks_in"]
    ]
    votes = [v for v in votes if not v["unlocks_in"]]
    for start in range(0, len(contrib), MAX_CLAIM_BATCH):
        batch = contrib[start : start + MAX_CLAIM_BATCH]
        proofs = [[bytes.fromhex(p) for p in c["proof"]] for c in batch]
        if len(batch) == 1:
            chain.claim(batch[0]["round"], batch[0]["amount"], proofs[0])
        else:
            chain.claim_many([c["round"] for c in batch], [c["amount"] for c in batch], proofs)
    for v in votes:
        chain.claim_voter_reward(v["round"])
    total = sum(c["amount"] for c in contrib) + sum(v["amount"] for v in votes)
    if not contrib and not votes:
        message = "nothing to claim"
        if node_dir is None and voter:
            message += " (voter rewards only: give --node-dir to claim contributor rewards too)"
    else:
        parts = []
        if contrib:
            parts.append(
                "contributor rewards of rounds " + ", ".join(str(c["round"]) for c in contrib)
            )
        if votes:
            parts.append("voter rewards of rounds " + ", ".join(str(v["round"]) for v in votes))
        message = f"claimed {fed(total)}: " + "; ".join(parts)
    return {
        "address": chain.address,
        "claimed": sorted({c["round"] for c in contrib}),
        "voter_claimed": [v["round"] for v in votes],
        "amount": total,
        "notes": notes,
        "message": message,
    }
