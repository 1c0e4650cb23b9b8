"""Contributor rewards (Merkle proofs from the node's records) and voter rewards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.errors import FedchainError
from node.operator.format import fed, in_words
from node.state import NodeState

if TYPE_CHECKING:
    from node.chain.client import ChainClient
    from node.operator.index import RoundIndex

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


def voter_claims(chain: ChainClient, index: RoundIndex | None = None) -> list[dict[str, Any]]:
    """Voter rewards of this account: every round it voted the winning outcome of.

    From the local event index: rounds whose reward was claimed need no RPC call; the
    others one batch of views for the rounds not settled (or not seen) before.
    """
    from node.operator.roundfacts import gather

    with _indexed(chain, index) as idx:
        me = chain.address
        claimed = {
            e["round"]: int(e["args"]["amount"]) for e in idx.events_of(me, ["VoterRewardClaimed"])
        }
        voted = [e["round"] for e in idx.events_of(me, ["OutcomeSubmitted"])]
        pending = [r for r in voted if r not in claimed]
        facts = gather(chain, idx, pending) if pending else {}
        current = idx.current_round()
        now = idx.chain_time
        out = [
            {"round": r, "amount": a, "claimed": True, "unlocks_in": 0} for r, a in claimed.items()
        ]
        for r in pending:
            f = facts[r]
            amount = next(
                (a for voter, a in f.voter_rewards().items() if voter.lower() == me.lower()), None
            )
            if amount is None:  # not finalized, or voted another outcome
                continue
            unlocked = r != current or now >= f.info.vote_deadline
            out.append(
                {
                    "round": r,
                    "amount": amount,
                    "claimed": False,
                    "unlocks_in": 0 if unlocked else f.info.vote_deadline - now,
                }
            )
        mark_expired(chain, idx, out, now)
    return sorted(out, key=lambda c: c["round"])


def mark_expired(
    chain: ChainClient, index: RoundIndex, claims: list[dict[str, Any]], now: int
) -> None:
    """Set each claim's ``expired``: its round's claim period ended, so the contract
    refuses it (what is left goes back to the treasury with a sweep). Deadlines from the
    index's cache, else one batch of views for the unclaimed ones."""
    unclaimed = [c["round"] for c in claims if not c["claimed"]]
    deadlines = index.claim_deadlines(chain, unclaimed) if unclaimed else {}
    for c in claims:
        deadline = deadlines.get(c["round"], 0)
        c["expired"] = not c["claimed"] and bool(deadline) and now >= deadline


def contributor_claims(
    chain: ChainClient, node_dir: Path | None, index: RoundIndex | None = None
) -> list[dict[str, Any]]:
    """Contributor rewards the node's state recorded, with their on-chain claim status
    (from the indexed ``RewardClaimed`` events: no call per round)."""
    records = [r for r in node_records(node_dir) if int(r.get("earned", 0)) > 0]
    if not records:
        return []
    with _indexed(chain, index) as idx:
        claimed = {e["round"] for e in idx.events_of(chain.address, ["RewardClaimed"])}
        out = [
            {
                "round": int(record["round"]),
                "amount": int(record["earned"]),
                "proof": list(record.get("proof", [])),
                "claimed": int(record["round"]) in claimed,
            }
            for record in records
        ]
        mark_expired(chain, idx, out, idx.chain_time)
    return out


@contextlib.contextmanager
def _indexed(chain: ChainClient, index: RoundIndex | None) -> Iterator[RoundIndex]:
    """``index`` as given (already synced), else the chain's, synced now and closed after."""
    if index is not None:
        yield index
        return
    from node.operator.index import open_index

    fresh = open_index(chain)
    try:
        yield fresh
    finally:
        fresh.close()


def claim_all(
    chain: ChainClient, node_dir: Path | None, *, voter: bool = True, only: int | None = None
) -> dict[str, Any]:
    """Claim every unclaimed contributor reward (from the node's records) and voter reward."""
    if only is not None:
        current = chain.current_round()
        if not 1 <= only <= current:
            raise FedchainError(
                f"round {only} does not exist (rounds so far: 1..{current}); "
                "`fedchain rounds` lists them"
                if current
                else f"round {only} does not exist: no round has opened yet"
            )
    with _indexed(chain, None) as index:
        contrib = [
            c
            for c in contributor_claims(chain, node_dir, index)
            if not c["claimed"] and (only is None or c["round"] == only)
        ]
        votes = [
            v
            for v in (voter_claims(chain, index) if voter else [])
            if not v["claimed"] and v["amount"] > 0 and (only is None or v["round"] == only)
        ]
    notes = [
        f"voter reward of round {v['round']} ({fed(v['amount'])}) unlocks in "
        f"{in_words(v['unlocks_in'])}"
        for v in votes
        if v["unlocks_in"]
    ]
    notes += [
        f"{kind} reward of round {c['round']} ({fed(c['amount'])}) can no longer be claimed: "
        "its claim period ended (it goes back to the treasury)"
        for kind, claims in (("contributor", contrib), ("voter", votes))
        for c in claims
        if c["expired"]
    ]
    contrib = [c for c in contrib if not c["expired"]]
    votes = [v for v in votes if not v["unlocks_in"] and not v["expired"]]
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


def sweep_rounds(chain: ChainClient, rounds: list[int] | None = None) -> dict[str, Any]:
    """Sweep ``rounds`` (default: every finalized round not swept yet) whose claim period
    ended: what is left of their pools goes back to the treasury. Rounds whose claims
    still run, or with nothing left, are named in the notes."""
    from node.chain.client import RoundStatus
    from node.chain.errors import TransactionRejected

    with _indexed(chain, None) as index:
        current = index.current_round()
        for r in rounds or []:
            if not 1 <= r <= current:
                raise FedchainError(f"round {r} does not exist yet (current round: {current})")
        if rounds is None:
            swept = {e["round"] for e in index.events(names=["Swept"])}
            rounds = [e["round"] for e in index.events(names=["Finalized"])]
            rounds = [r for r in rounds if r not in swept]
        deadlines = index.claim_deadlines(chain, rounds)
        now = index.chain_time
    infos = {i.round: i for i in chain.round_infos(rounds)} if rounds else {}
    notes: list[str] = []
    done: list[dict[str, int]] = []
    for r in sorted(set(rounds)):
        info = infos[r]
        left = info.contributor_pool - info.contributor_claimed
        left += info.voter_pool - info.voter_claimed
        if info.status is not RoundStatus.FINALIZED:
            notes.append(f"round {r} is {info.status.name.lower()}: only finalized rounds sweep")
        elif now < deadlines[r]:
            notes.append(f"round {r}: its claims end in {in_words(deadlines[r] - now)}")
        elif left == 0:
            notes.append(f"round {r}: nothing left (all claimed, or swept)")
        else:
            try:
                chain.sweep(r)
            except TransactionRejected as exc:  # e.g. another account swept it just now
                notes.append(f"round {r}: {exc}")
                continue
            done.append({"round": r, "amount": left})
    total = sum(d["amount"] for d in done)
    message = (
        f"swept {fed(total)} back to the treasury from rounds "
        + ", ".join(str(d["round"]) for d in done)
        if done
        else "nothing to sweep"
    )
    return {"swept": done, "amount": total, "notes": notes, "message": message}
