"""The chain client's value types (``IFedCoordinator``'s structs and enums as frozen
dataclasses) and the pure conversions between their on-chain and Python forms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import to_checksum_address

from node.chain.peer import peer_id_from_bytes, peer_id_to_bytes
from node.errors import ChainError
from node.types import cid_from_bytes

MAX_METRIC_BPS = 10_000


class RoundStatus(IntEnum):
    """``IFedCoordinator.RoundStatus``."""

    NONE = 0
    OPEN = 1
    FINALIZED = 2
    FAILED = 3


@dataclass(frozen=True)
class RoundInfo:
    """``IFedCoordinator.RoundInfo`` of one round (timestamps in chain seconds)."""

    round: int
    status: RoundStatus
    opened_at: int
    commit_deadline: int
    closed_at: int  # 0 unless every eligible participant committed before the deadline
    vote_deadline: int
    eligible_count: int
    commit_count: int
    stake_snapshot: int
    reward_root: bytes
    contributor_pool: int  # reserved when the round opened; back to the treasury if it fails
    voter_pool: int
    outcome_key: bytes  # first 16 bytes of the winning outcome id (empty bytes before)
    winning_weight: int
    contributor_claimed: int
    voter_claimed: int
    finalized_at: int  # chain time of the finalizing vote; 0 unless finalized

    @property
    def vote_opens_at(self) -> int:
        """When the vote window opens (early close, else the commit deadline)."""
        return self.closed_at or self.commit_deadline

    def commit_open(self, now: int) -> bool:
        """Whether commits are accepted at chain time ``now``."""
        return (
            self.status is RoundStatus.OPEN and self.closed_at == 0 and now < self.commit_deadline
        )

    def vote_open(self, now: int) -> bool:
        """Whether outcomes are accepted at chain time ``now``."""
        live = self.status in (RoundStatus.OPEN, RoundStatus.FINALIZED)
        return live and self.vote_opens_at <= now < self.vote_deadline

    def grace_ends_at(self, late_vote_grace: int) -> int:
        """When ``advance`` may move past this finalized round (the contract's
        ``GraceActive`` check): ``late_vote_grace`` after finalization, at the latest the
        vote deadline; at once when all of the snapshot voted for the outcome."""
        if self.winning_weight >= self.stake_snapshot:
            return self.finalized_at
        return min(self.finalized_at + late_vote_grace, self.vote_deadline)


@dataclass(frozen=True)
class Participant:
    """A registry entry."""

    address: str
    stake: int
    peer_id: str
    addrs: list[str]
    active: bool


@dataclass(frozen=True)
class StakeInfo:
    """Staking position of one account (``stakeInfo``)."""

    address: str
    stake: int  # counts for rounds opened from now on
    unbonding: int  # requested out, not yet withdrawn
    unlock_at: int  # earliest withdraw time (chain seconds) of the unbonding tokens
    active: bool
    active_from: int  # first round it may take part in; 0 = never registered

    @property
    def registered(self) -> bool:
        return self.active_from != 0


@dataclass(frozen=True)
class ChainParams:
    """The coordinator's parameters in force (``params``), as set at deployment or since
    (setters stage a pending copy that the next round's opening applies)."""

    min_stake: int
    commit_window: int
    vote_window: int
    reward_per_round: int
    voter_share_bps: int
    slash_bps: int
    min_participants: int
    unstake_cooldown: int
    late_vote_grace: int
    claim_period: int
    inactivity_rounds: int
    inactivity_leak_bps: int
    committee_size: int = 0  # K drawn per round; 0 (or K >= active count): everyone
    # the stop rule (0 = off each): agreed metric target, rounds without improvement, cap
    target_metric_bps: int = 0
    patience: int = 0
    max_rounds: int = 0

    @property
    def contributor_pool_per_round(self) -> int:
        return self.reward_per_round - self.reward_per_round * self.voter_share_bps // 10_000


@dataclass(frozen=True)
class VoteRecord:
    """One ``OutcomeSubmitted`` event."""

    round: int
    voter: str
    outcome_id: bytes
    weight: int
    metric_bps: int = 0  # the voter's evaluation of the outcome's model (basis points)

    @property
    def outcome_key(self) -> bytes:
        """The first 16 bytes of the outcome id, as the contract keys outcomes."""
        return self.outcome_id[:16]


# Owner-settable parameters: snake_case name -> contract setter.
PARAM_SETTERS = {
    "min_stake": "setMinStake",
    "commit_window": "setCommitWindow",
    "vote_window": "setVoteWindow",
    "reward_per_round": "setRewardPerRound",
    "voter_share_bps": "setVoterShareBps",
    "slash_bps": "setSlashBps",
    "min_participants": "setMinParticipants",
    "unstake_cooldown": "setUnstakeCooldown",
    "late_vote_grace": "setLateVoteGrace",
    "claim_period": "setClaimPeriod",
    "inactivity_rounds": "setInactivityRounds",
    "inactivity_leak_bps": "setInactivityLeakBps",
    "committee_size": "setCommitteeSize",
}
# The stop rule's three parameters share one setter, ``setStopRule(target, patience, max)``.
STOP_RULE_PARAMS = ("target_metric_bps", "patience", "max_rounds")


class StopReason(IntEnum):
    """``IFedCoordinator.StopReason``: why the deployment finished."""

    NONE = 0
    TARGET_REACHED = 1
    NO_IMPROVEMENT = 2
    MAX_ROUNDS = 3


@dataclass(frozen=True)
class DeploymentEnd:
    """The ``DeploymentFinished`` event: the stop rule fired when ``round`` finalized."""

    round: int
    reason: StopReason
    metric_bps: int  # the round's agreed metric
    model_cid: str  # the final model


@dataclass(frozen=True)
class FinalizedOutcome:
    """What a round finalized to (from its ``Finalized`` event)."""

    round: int
    model_cid: str
    reward_root: bytes
    outcome_id: bytes
    block_number: int


@dataclass(frozen=True)
class ChainEvent:
    """One coordinator event, with plain JSON-able arguments (checksum addresses, CIDs as
    strings, other bytes as 0x hex) and where it was mined."""

    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx: str
    timestamp: int | None  # the block's, when the node returns it with the log

    @property
    def round(self) -> int:
        """The round the event is about; 0 for an account event (``ReportedInactive``)."""
        return int(self.args.get("round", 0))


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str
    timestamp: int


def snake_case(name: str) -> str:
    """``committeeSize`` -> ``committee_size`` (the contract's field names are accepted)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def round_info_from_raw(r: int, raw: Any) -> RoundInfo:
    return RoundInfo(
        round=r,
        status=RoundStatus(raw[0]),
        opened_at=int(raw[1]),
        commit_deadline=int(raw[2]),
        closed_at=int(raw[3]),
        vote_deadline=int(raw[4]),
        eligible_count=int(raw[5]),
        commit_count=int(raw[6]),
        stake_snapshot=int(raw[7]),
        reward_root=bytes(raw[8]),
        contributor_pool=int(raw[9]),
        voter_pool=int(raw[10]),
        outcome_key=bytes(raw[11]),
        winning_weight=int(raw[12]),
        contributor_claimed=int(raw[13]),
        voter_claimed=int(raw[14]),
        finalized_at=int(raw[15]),
    )


def cid_str(raw: bytes) -> str:
    data = bytes(raw)
    try:
        return cid_from_bytes(data)
    except ValueError:
        return "0x" + data.hex()  # not a CIDv1: keep it visible rather than hide it


def peer_str(raw: bytes) -> str:
    return peer_id_from_bytes(raw)


def peer_bytes(peer_id: str) -> bytes:
    try:
        return peer_id_to_bytes(peer_id)
    except ValueError as exc:
        raise ChainError(f"bad peer id: {exc}") from None


def sorted_addrs(addresses: Sequence[str]) -> list[str]:
    """Strictly ascending, deduplicated checksum addresses (the contract's slash order)."""
    unique = {to_checksum_address(a) for a in addresses}
    return sorted(unique, key=lambda a: int(a, 16))
