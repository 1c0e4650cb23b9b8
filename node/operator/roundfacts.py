"""What the chain recorded about some rounds, from the local event index plus one batch
of ``roundInfo`` views for the rounds that are not settled yet (see index.py)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from node.operator.format import in_words

if TYPE_CHECKING:
    from node.chain.client import ChainClient, RoundInfo
    from node.operator.index import RoundIndex


@dataclass
class RoundFacts:
    """One round: its ``roundInfo`` (winning weight and claimed amounts recomputed from the
    events) and its events, each a dict as ``RoundIndex.events`` returns them."""

    info: RoundInfo
    opened: dict[str, Any] | None = None
    commits: list[dict[str, Any]] = field(default_factory=list)
    closed: dict[str, Any] | None = None
    votes: list[dict[str, Any]] = field(default_factory=list)
    finalized: dict[str, Any] | None = None
    failed: dict[str, Any] | None = None
    swept: dict[str, Any] | None = None
    params_applied: dict[str, Any] | None = None  # the owner's staged changes took effect
    slashes: list[dict[str, Any]] = field(default_factory=list)
    reward_claims: list[dict[str, Any]] = field(default_factory=list)
    voter_claims: list[dict[str, Any]] = field(default_factory=list)

    @property
    def round(self) -> int:
        return self.info.round

    @property
    def status(self) -> str:
        return self.info.status.name.lower()

    def phase(self, now: int) -> str:
        """Where an open round stands at chain time ``now`` (its status otherwise)."""
        if self.status != "open":
            return self.status
        if self.info.commit_open(now):
            return "committing"
        if now < self.info.vote_deadline:
            return "voting"
        return "expired"  # the next advance() marks it failed

    def winning(self, vote: dict[str, Any]) -> bool:
        key = self.info.outcome_key
        return bool(key) and any(key) and _key(vote) == key

    def returned(self) -> dict[str, int]:
        """What the round gave back to the treasury, by cause: the whole pool of a failed
        round, the contributor pool of one finalized without rewards, and what was left
        unclaimed when its claim period ended (swept)."""
        out: dict[str, int] = {}
        if self.failed and int(self.failed["args"].get("refund", 0)):
            out["failed"] = int(self.failed["args"]["refund"])
        if self.finalized and int(self.finalized["args"].get("contributorRefund", 0)):
            out["no_rewards"] = int(self.finalized["args"]["contributorRefund"])
        if self.swept:
            args = self.swept["args"]
            out["swept"] = int(args["contributorAmount"]) + int(args["voterAmount"])
        return out

    def slashed(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.slashes:
            account = e["args"]["account"]
            out[account] = out.get(account, 0) + int(e["args"]["amount"])
        return out

    def voter_rewards(self) -> dict[str, int]:
        """voter -> its share of the voter pool (winning voters; claimed or not)."""
        weight = self.info.winning_weight
        if self.status != "finalized" or weight == 0:
            return {}
        pool = self.info.voter_pool
        return {
            v["args"]["voter"]: pool * int(v["args"]["weight"]) // weight
            for v in self.votes
            if self.winning(v)
        }

    def contributor_claimed(self) -> dict[str, int]:
        return {e["args"]["account"]: int(e["args"]["amount"]) for e in self.reward_claims}

    def voter_claimed(self) -> dict[str, int]:
        return {e["args"]["account"]: int(e["args"]["amount"]) for e in self.voter_claims}

    def rewards(self) -> dict[str, dict[str, Any]]:
        """address -> contributor reward claimed, voter reward and whether it was claimed.

        Contributor rewards not yet claimed are known only to the nodes (the chain holds
        their Merkle root); ``round show --node-dir`` adds the node's split.
        """
        contrib = self.contributor_claimed()
        voter = self.voter_rewards()
        claimed = self.voter_claimed()
        out: dict[str, dict[str, Any]] = {}
        for address in sorted(set(contrib) | set(voter) | set(claimed), key=str.lower):
            out[address] = {
                "contributor": contrib.get(address, 0),
                "voter": claimed.get(address, voter.get(address, 0)),
                "voter_claimed": address in claimed,
            }
        return out


# What ``RoundFacts.returned`` keys mean, for people.
RETURNED = {
    "failed": "the round failed",
    "no_rewards": "finalized without contributor rewards",
    "swept": "unclaimed when the claim period ended",
}
_SLOTS = {
    "Committed": "commits",
    "OutcomeSubmitted": "votes",
    "Slashed": "slashes",
    "RewardClaimed": "reward_claims",
    "VoterRewardClaimed": "voter_claims",
}
_SINGLE = {
    "RoundOpened": "opened",
    "CommitClosed": "closed",
    "Finalized": "finalized",
    "RoundFailed": "failed",
    "Swept": "swept",
    "ParamsApplied": "params_applied",
}


def gather(chain: ChainClient, index: RoundIndex, rounds: list[int]) -> dict[int, RoundFacts]:
    """Facts of ``rounds``: the index's events and at most one batch of views."""
    infos = index.round_infos(chain, rounds)
    facts = {r: RoundFacts(infos[r]) for r in rounds}
    events = index.events(rounds)
    untimed = [e["block"] for e in events if e["timestamp"] is None]
    if untimed:  # a node that does not send block times with its logs
        times = index.block_times(chain, untimed)
        for e in events:
            e["timestamp"] = e["timestamp"] or times.get(e["block"])
    for e in events:
        f = facts.get(e["round"])
        if f is None:
            continue
        if e["name"] in _SLOTS:
            getattr(f, _SLOTS[e["name"]]).append(e)
        elif e["name"] in _SINGLE:
            setattr(f, _SINGLE[e["name"]], e)
    for f in facts.values():
        key = f.info.outcome_key
        weight = sum(int(v["args"]["weight"]) for v in f.votes if f.winning(v)) if key else 0
        f.info = dataclasses.replace(
            f.info,
            winning_weight=weight,
            contributor_claimed=sum(f.contributor_claimed().values()),
            voter_claimed=sum(f.voter_claimed().values()),
        )
    return facts


def now_for(index: RoundIndex) -> int:
    """ "Now" for ages: the chain's clock, or the wall clock if the chain sat idle."""
    return max(index.chain_time, int(time.time()))


def local_time(ts: int) -> str:
    """A chain timestamp as local ISO time: ``2025-11-27T17:30:12+01:00``."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def ago(ts: int, now: int) -> str:
    """``3 min ago`` or ``in 2 min``."""
    return f"{in_words(now - ts)} ago" if ts <= now else f"in {in_words(ts - now)}"


def when(ts: int | None, now: int) -> str:
    return "-" if not ts else f"{local_time(ts)} ({ago(ts, now)})"


def _key(vote: dict[str, Any]) -> bytes:
    return bytes.fromhex(vote["args"]["outcomeId"][2:])[:16]
