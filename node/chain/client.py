"""Typed, synchronous access to one deployment's coordinator and token.

CIDs are strings (base32 CIDv1) here and binary CIDs on chain; peer ids are base58 strings
here and raw multihash bytes on chain. Reverts raise ``TransactionRejected`` naming the
contract's custom error, e.g. ``commit rejected: CommitWindowClosed(round=3)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import Any

from eth_typing import ChecksumAddress, HexStr
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import TxReceipt

from node.chain.artifacts import load_artifact
from node.chain.deploy import Deployment
from node.chain.errors import InsufficientFunds, TransactionRejected
from node.chain.peer import peer_id_from_bytes, peer_id_to_bytes
from node.chain.tx import Sender, connect, rpc_errors
from node.chain.watch_reads import QuickReads, QuickReadUnavailable
from node.errors import ChainError
from node.types import cid_from_bytes, cid_to_bytes

LOG_CHUNK_BLOCKS = 10_000
BATCH_SIZE = 100  # JSON-RPC requests per HTTP batch
# Events that tell a round's story (read by block range into the operator's index).
ROUND_EVENTS = (
    "RoundOpened",
    "Committed",
    "CommitClosed",
    "OutcomeSubmitted",
    "Finalized",
    "RoundFailed",
    "Slashed",
    "RewardClaimed",
    "VoterRewardClaimed",
    "Swept",
    "ParamsApplied",
    "ReportedInactive",  # an account event: no round (``ChainEvent.round`` is 0)
    "DeploymentFinished",
)
_CID_ARGS = {("Committed", "cid"), ("Finalized", "modelCid"), ("DeploymentFinished", "modelCid")}
MAX_METRIC_BPS = 10_000
FINALIZE_GAS = 150_000  # headroom for the finalizing path of submitOutcome
SLASH_GAS = 40_000  # per slashed address
# advance() reverts that mean "not now": another node advanced first, too few participants,
# or the finalized round's late-vote grace is still running; or the stop rule finished the
# deployment (``finished``: no round opens any more).
_NOTHING_TO_ADVANCE = ("RoundInProgress", "NotEnoughParticipants", "GraceActive", "DeploymentOver")


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


class ChainClient:
    """One account's view of, and transactions to, a deployment."""

    def __init__(self, rpc_url: str, deployment: Deployment, private_key: str) -> None:
        self.rpc_url = rpc_url
        self.deployment = deployment
        self.w3 = connect(rpc_url)
        self._sender = Sender(self.w3, private_key)
        if self._sender.chain_id != deployment.chain_id:
            raise ChainError(
                f"{rpc_url} is chain {self._sender.chain_id} but the deployment is on chain "
                f"{deployment.chain_id}"
            )
        self._coord = self.w3.eth.contract(
            address=to_checksum_address(deployment.coordinator),
            abi=load_artifact("FedCoordinator").abi,
        )
        self._token = self.w3.eth.contract(
            address=to_checksum_address(deployment.token), abi=load_artifact("FedToken").abi
        )
        self._topics: dict[bytes, str] | None = None
        self._max_slash: int | None = None
        # the coordinator's views over raw JSON-RPC (~25x less CPU than web3's path)
        self._quick = QuickReads(rpc_url, self._coord.abi, self._coord.address)

    # ------------------------------------------------------------------ identity

    @property
    def address(self) -> str:
        """This client's checksum address."""
        return self._sender.address

    @property
    def chain_id(self) -> int:
        return self._sender.chain_id

    # ------------------------------------------------------------------ reads

    def chain_time(self) -> int:
        """Timestamp of the latest block."""
        with contextlib.suppress(QuickReadUnavailable):
            return self._quick.latest_timestamp()
        with rpc_errors(self.rpc_url):
            return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_number(self) -> int:
        with rpc_errors(self.rpc_url):
            return int(self.w3.eth.block_number)

    def token_balance(self, address: str | None = None) -> int:
        """Token balance of ``address`` (default: this account)."""
        return int(self._view("balanceOf", self._addr(address), contract=self._token))

    def eth_balance(self, address: str | None = None) -> int:
        with rpc_errors(self.rpc_url):
            return int(self.w3.eth.get_balance(self._addr(address)))

    def treasury(self) -> int:
        return int(self._view("treasury"))

    def participant(self, address: str | None = None) -> Participant | None:
        """Registry entry of ``address`` (default: this account); None if never registered."""
        checksum = self._addr(address)
        stake, peer_raw, addrs, active = self._view("participant", checksum)
        if not peer_raw:
            return None
        return Participant(checksum, int(stake), _peer_str(bytes(peer_raw)), list(addrs), active)

    def participant_count(self) -> int:
        """How many accounts ever registered (one cheap call; grows when one joins)."""
        return int(self._view("participantCount"))

    def participants(self) -> list[Participant]:
        """Every registered participant, in registration order (1 + 2n calls, in two
        JSON-RPC batches)."""
        fns = self._coord.functions
        count = self.participant_count()
        try:
            me = self.address
            accounts = self._quick.calls("participantAt", [(i,) for i in range(count)], me)
            checksums = [to_checksum_address(a) for a in accounts]
            entries = self._quick.calls("participant", [(a,) for a in checksums], me)
        except QuickReadUnavailable:
            accounts = self._batch([partial(fns.participantAt, i) for i in range(count)])
            checksums = [to_checksum_address(a) for a in accounts]
            entries = self._batch([partial(fns.participant, a) for a in checksums])
        return [
            Participant(a, int(stake), _peer_str(bytes(peer_raw)), list(addrs), active)
            for a, (stake, peer_raw, addrs, active) in zip(checksums, entries, strict=True)
            if peer_raw
        ]

    def stake_info(self, address: str | None = None) -> StakeInfo:
        """Stake, unbonding tokens and their unlock time of ``address`` (default: this account)."""
        checksum = self._addr(address)
        stake, unbonding, unlock_at, active, active_from = self._view("stakeInfo", checksum)
        return StakeInfo(
            checksum, int(stake), int(unbonding), int(unlock_at), bool(active), int(active_from)
        )

    def params(self) -> ChainParams:
        """The coordinator's parameters in force now (the owner may have changed them since
        deployment; changes apply when the next round opens)."""
        return ChainParams(*(int(v) for v in self._view("params")))

    def pending_params(self) -> ChainParams:
        """The parameters the next round's opening puts in force (``params`` unless the owner
        changed some since the current round opened)."""
        return ChainParams(*(int(v) for v in self._view("pendingParams")))

    def owner(self) -> str:
        return to_checksum_address(self._view("owner"))

    def paused(self) -> bool:
        return bool(self._view("paused"))

    def total_staked(self) -> int:
        return int(self._view("totalStaked"))

    def total_unbonding(self) -> int:
        return int(self._view("totalUnbonding"))

    def allowance(self, address: str | None = None) -> int:
        """Tokens ``address`` (default: this account) lets the coordinator pull."""
        return int(
            self._view(
                "allowance", self._addr(address), self.deployment.coordinator, contract=self._token
            )
        )

    def vote_of(self, r: int, address: str | None = None) -> tuple[bytes, int, bool]:
        """(outcome key, weight, voter reward claimed) of ``address``'s vote in round ``r``.

        The key is the first 16 bytes of the outcome id (``RoundInfo.outcome_key`` format).
        """
        outcome, weight, claimed = self._view("voteOf", r, self._addr(address))
        return bytes(outcome), int(weight), bool(claimed)

    def voter_reward(self, r: int, address: str | None = None) -> int:
        """Voter share ``address`` earned in round ``r`` (0 unless it voted the winning outcome)."""
        info = self.round_info(r)
        if info.status is not RoundStatus.FINALIZED or info.winning_weight == 0:
            return 0
        outcome, weight, _ = self.vote_of(r, address)
        if outcome != info.outcome_key:
            return 0
        return info.voter_pool * weight // info.winning_weight

    def votes(self, r: int | None = None) -> list[VoteRecord]:
        """``OutcomeSubmitted`` events of round ``r`` (every round if None), in chain order."""
        events = self._logs("OutcomeSubmitted", {} if r is None else {"round": r})
        return [
            VoteRecord(
                int(e["args"]["round"]),
                to_checksum_address(e["args"]["voter"]),
                bytes(e["args"]["outcomeId"]),
                int(e["args"]["weight"]),
                int(e["args"]["metricBps"]),
            )
            for e in events
        ]

    def slashes(self, r: int) -> dict[str, int]:
        """account -> stake slashed by round ``r``'s outcome (``Slashed`` events)."""
        out: dict[str, int] = {}
        for e in self._logs("Slashed", {"round": r}):
            account = to_checksum_address(e["args"]["account"])
            out[account] = out.get(account, 0) + int(e["args"]["amount"])
        return out

    def claimed_rewards(self, address: str | None = None) -> dict[int, int]:
        """round -> contributor reward ``address`` claimed (``RewardClaimed`` events)."""
        events = self._logs("RewardClaimed", {"account": self._addr(address)})
        return {int(e["args"]["round"]): int(e["args"]["amount"]) for e in events}

    def current_round(self) -> int:
        """The latest opened round (0 before the first)."""
        return int(self._view("currentRound"))

    def round_info(self, r: int) -> RoundInfo:
        """Everything recorded about round ``r``."""
        return _round_info(r, self._view("roundInfo", r))

    def round_view(self, r: int) -> tuple[RoundInfo, int]:
        """``round_info(r)`` and the latest block's timestamp, in one JSON-RPC batch."""
        with contextlib.suppress(QuickReadUnavailable):
            info, now = self._quick.call_and_time("roundInfo", (r,), self.address)
            return _round_info(r, info), now
        f = self._coord.functions
        raw, latest = self._batch([lambda: f.roundInfo(r), lambda: self.w3.eth.get_block("latest")])
        return _round_info(r, raw), int(latest["timestamp"])

    def is_selected(self, r: int, address: str | None = None) -> bool:
        """Whether ``address`` (default: this account) may commit and vote in round ``r``:
        drawn into its committee when the round was sampled, else registered and active
        from ``r`` or earlier (the contract's ``isSelected``)."""
        return bool(self._view("isSelected", r, self._addr(address)))

    def committee_seed(self, r: int) -> bytes:
        """The seed round ``r``'s committee was drawn from (32 zero bytes when the round
        was not sampled: everyone active took part)."""
        return bytes(self._view("committeeSeed", r))

    def committee(self, r: int) -> list[str] | None:
        """Round ``r``'s committee in draw order (checksum addresses, from its
        ``CommitteeSelected`` event); None when the round was not sampled (everyone
        active was eligible) or not opened."""
        events = self._logs("CommitteeSelected", {"round": r})
        if not events:
            return None
        return [to_checksum_address(a) for a in events[-1]["args"]["members"]]

    def commitments(self, r: int) -> dict[str, str]:
        """author -> committed CID of round ``r``, from the ``Committed`` events."""
        events = self._logs("Committed", {"round": r})
        return {
            to_checksum_address(e["args"]["author"]): _cid_str(e["args"]["cid"]) for e in events
        }

    def commitment_cid(self, r: int, address: str | None = None) -> str | None:
        """The CID ``address`` (default: this account) committed in round ``r``, if any."""
        author = self._addr(address)
        if self._view("commitmentOf", r, author) == bytes(32):
            return None
        events = self._logs("Committed", {"round": r, "author": author})
        return _cid_str(events[-1]["args"]["cid"]) if events else None

    def finished(self) -> bool:
        """Whether the stop rule finished the deployment (no round opens any more)."""
        return bool(self._view("finished"))

    def final_model_cid(self) -> str | None:
        """The final model's CID once the deployment finished; None while it runs."""
        raw = bytes(self._view("finalModelCid"))
        return _cid_str(raw) if raw else None

    def deployment_end(self) -> DeploymentEnd | None:
        """How the deployment finished (its ``DeploymentFinished`` event); None while it runs."""
        if not self.finished():
            return None
        events = self._logs("DeploymentFinished", {})
        if not events:
            raise ChainError(
                "the deployment is finished but its DeploymentFinished event is missing"
            )
        args = events[-1]["args"]
        return DeploymentEnd(
            round=int(args["round"]),
            reason=StopReason(int(args["reason"])),
            metric_bps=int(args["metricBps"]),
            model_cid=_cid_str(args["modelCid"]),
        )

    def agreed_metric(self, r: int) -> int:
        """Round ``r``'s agreed metric in basis points: its winning voters' stake-weighted
        mean evaluation at finalization (0 unless finalized)."""
        return int(self._view("agreedMetric", r))

    def agreed_metrics(self, rounds: Sequence[int]) -> list[int]:
        """``agreed_metric`` of each round, in one batch."""
        f = self._coord.functions
        return [int(m) for m in self._batch([partial(f.agreedMetric, r) for r in rounds])]

    def storage_word(self, slot: int) -> int:
        """One 32-byte storage slot of the coordinator, as an integer (for state that has
        no view, e.g. the stop rule's bookkeeping word; node/operator/stopstate.py)."""
        with rpc_errors(self.rpc_url):
            raw = self.w3.eth.get_storage_at(self._coord.address, slot)
        return int.from_bytes(bytes(raw), "big")

    def has_voted(self, r: int, address: str | None = None) -> bool:
        return bool(self._view("hasVoted", r, self._addr(address)))

    def votes_for(self, r: int, outcome_id: bytes) -> int:
        return int(self._view("votesFor", r, outcome_id))

    def outcome_id(self, model_cid: str, reward_root: bytes, slash: Sequence[str]) -> bytes:
        """The id the contract counts an outcome under."""
        return bytes(
            self._view("outcomeIdOf", cid_to_bytes(model_cid), reward_root, _sorted_addrs(slash))
        )

    def finalized_outcome(self, r: int) -> FinalizedOutcome | None:
        """Model CID and reward root round ``r`` finalized to; None if it did not finalize."""
        if self.round_info(r).status is not RoundStatus.FINALIZED:
            return None
        events = self._logs("Finalized", {"round": r})
        if not events:
            raise ChainError(f"round {r} is finalized but its Finalized event is not found")
        args = events[-1]["args"]
        return FinalizedOutcome(
            round=r,
            model_cid=_cid_str(args["modelCid"]),
            reward_root=bytes(args["rewardRoot"]),
            outcome_id=bytes(args["outcomeId"]),
            block_number=int(events[-1]["blockNumber"]),
        )

    def latest_model_cid_of(self, r: int) -> str:
        """Model CID round ``r`` finalized to; ``ChainError`` if it did not finalize."""
        outcome = self.finalized_outcome(r)
        if outcome is None:
            raise ChainError(f"round {r} is not finalized")
        return outcome.model_cid

    def latest_model_cid(self) -> str:
        """Model CID of the latest finalized round (the genesis model before any)."""
        return _cid_str(self._view("latestModelCid"))

    def genesis_model_cid(self) -> str:
        return _cid_str(self._view("genesisModelCid"))

    def is_claimed(self, r: int, address: str | None = None) -> bool:
        return bool(self._view("isClaimed", r, self._addr(address)))

    def max_slash(self) -> int:
        """Most addresses one outcome may slash (the contract's ``MAX_SLASH``; read once)."""
        if self._max_slash is None:
            self._max_slash = int(self._view("MAX_SLASH"))
        return self._max_slash

    def stake_at_open(self, r: int, address: str | None = None) -> int:
        """Stake ``address`` (default: this account) had when round ``r`` opened: its vote
        weight in that round and the base of a slash (0 if it was not eligible)."""
        return int(self._view("stakeAtOpen", r, self._addr(address)))

    def claim_deadline(self, r: int) -> int:
        """Chain time from which round ``r``'s rewards can no longer be claimed and ``sweep``
        may return what is left to the treasury (0 for a round never opened)."""
        return int(self._view("claimDeadline", r))

    def claim_deadlines(self, rounds: Sequence[int]) -> list[int]:
        """``claim_deadline`` of each round, in one batch."""
        f = self._coord.functions
        return [int(d) for d in self._batch([partial(f.claimDeadline, r) for r in rounds])]

    def missed_rounds(self, address: str | None = None) -> int:
        """Settled rounds in a row an active participant did not vote in (0 if inactive);
        at ``inactivity_rounds`` anyone may ``report_inactive`` it."""
        return int(self._view("missedRounds", self._addr(address)))

    def missed_rounds_of(self, addresses: Sequence[str]) -> dict[str, int]:
        """``missed_rounds`` of each address, in one batch."""
        checksums = [self._addr(a) for a in addresses]
        f = self._coord.functions
        found = self._batch([partial(f.missedRounds, a) for a in checksums])
        return {a: int(m) for a, m in zip(checksums, found, strict=True)}

    # ------------------------------------------------------------------ batched reads

    def blocks(self, numbers: Sequence[int | str]) -> list[BlockRef | None]:
        """Number, hash and timestamp of each block (``"latest"`` allowed), one HTTP batch
        per ``BATCH_SIZE``; None for a block the node does not have."""
        get = self.w3.eth.get_block
        found = self._batch([partial(get, n) for n in numbers])  # type: ignore[arg-type]
        return [
            BlockRef(int(b["number"]), "0x" + bytes(b["hash"]).hex(), int(b["timestamp"]))
            if b
            else None
            for b in found
        ]

    def round_infos(self, rounds: Sequence[int]) -> list[RoundInfo]:
        """``round_info`` of each round, batched."""
        raws = self._batch([partial(self._coord.functions.roundInfo, r) for r in rounds])
        return [_round_info(r, raw) for r, raw in zip(rounds, raws, strict=True)]

    def round_events(self, from_block: int, to_block: int) -> list[ChainEvent]:
        """Every ``ROUND_EVENTS`` event the coordinator emitted in the block range, in chain
        order: one ``eth_getLogs`` per ``LOG_CHUNK_BLOCKS`` blocks."""
        topics = self._round_topics()
        out: list[ChainEvent] = []
        start = max(from_block, self.deployment.deploy_block)
        with rpc_errors(self.rpc_url):
            while start <= to_block:
                end = min(start + LOG_CHUNK_BLOCKS - 1, to_block)
                logs = self.w3.eth.get_logs(
                    {
                        "address": self._coord.address,
                        "fromBlock": start,
                        "toBlock": end,
                        "topics": [[HexBytes(t) for t in topics]],
                    }
                )
                out += [self._event(log, topics) for log in logs]
                start = end + 1
        return out

    def outcome_calls(self, tx_hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        """What each ``submitOutcome`` transaction asked for, decoded from its calldata:
        model CID, reward root and the slash list (the authors its sender rejected).
        None for a transaction that is not a direct ``submitOutcome`` call."""
        txs = self._batch([partial(self.w3.eth.get_transaction, HexStr(h)) for h in tx_hashes])
        out: list[dict[str, Any] | None] = []
        for tx in txs:
            try:
                fn, params = self._coord.decode_function_input(tx["input"])
            except ValueError:  # called through another contract: not decodable here
                out.append(None)
                continue
            if (
                fn.fn_name != "submitOutcome"
                or (tx["to"] or "").lower() != self._coord.address.lower()
            ):
                out.append(None)
                continue
            out.append(
                {
                    "model_cid": _cid_str(params["modelCid"]),
                    "reward_root": "0x" + bytes(params["rewardRoot"]).hex(),
                    "slash": [to_checksum_address(a) for a in params["slash"]],
                    "metric_bps": int(params["metricBps"]),
                }
            )
        return out

    def account_views(self, address: str | None = None) -> dict[str, Any]:
        """An account's position in one HTTP batch: stake info, wallet, allowance, ETH,
        the parameters, the rounds it missed voting in and the latest block's time."""
        who = self._addr(address)
        f = self._coord.functions
        stake, tokens, allowance, params, eth, latest, missed = self._batch(
            [
                lambda: f.stakeInfo(who),
                lambda: self._token.functions.balanceOf(who),
                lambda: self._token.functions.allowance(who, self.deployment.coordinator),
                lambda: f.params(),
                lambda: self.w3.eth.get_balance(who),
                lambda: self.w3.eth.get_block("latest"),
                lambda: f.missedRounds(who),
            ]
        )
        return {
            "stake_info": StakeInfo(
                who, int(stake[0]), int(stake[1]), int(stake[2]), bool(stake[3]), int(stake[4])
            ),
            "tokens": int(tokens),
            "allowance": int(allowance),
            "params": ChainParams(*(int(v) for v in params)),
            "eth": int(eth),
            "chain_time": int(latest["timestamp"]),
            "missed_rounds": int(missed),
        }

    # ------------------------------------------------------------------ transactions

    def ensure_registered(self, stake: int, peer_id: str, addrs: list[str]) -> bool:
        """Register with ``stake`` unless registered; refresh peer info if it changed.

        Returns True if this call registered the account.
        """
        peer_raw = _peer_bytes(peer_id)
        existing = self.participant()
        if existing is not None:
            if existing.peer_id != peer_id or existing.addrs != list(addrs):
                self._transact("updatePeer", self._coord.functions.updatePeer(peer_raw, addrs))
            return False
        balance = self.token_balance()
        if balance < stake:
            raise InsufficientFunds(
                f"register failed: {self.address} holds {balance} token units but staking "
                f"needs {stake}: get tokens first (on the devnet: `fedchain fund {self.address}`)"
            )
        self._approve(stake)
        self._transact("register", self._coord.functions.register(stake, peer_raw, addrs))
        return True

    def stake(self, amount: int) -> TxReceipt:
        """Top up this account's stake (approves the coordinator first if needed)."""
        self._approve(amount)
        return self._transact("stake", self._coord.functions.stake(amount))

    def request_unstake(self, amount: int) -> TxReceipt:
        """Move ``amount`` out of the stake; withdrawable after the cool-down."""
        return self._transact("requestUnstake", self._coord.functions.requestUnstake(amount))

    def withdraw(self) -> TxReceipt:
        """Transfer every unlocked unbonding token back to this account."""
        return self._transact("withdraw", self._coord.functions.withdraw())

    def set_param(self, name: str, value: int) -> TxReceipt:
        """Owner only: stage one bounded parameter (``PARAM_SETTERS`` or
        ``STOP_RULE_PARAMS`` names)."""
        snake = name if name in PARAM_SETTERS or name in STOP_RULE_PARAMS else _snake_case(name)
        if snake in STOP_RULE_PARAMS:
            pending = self.pending_params()
            rule = {k: getattr(pending, k) for k in STOP_RULE_PARAMS} | {snake: value}
            return self.set_stop_rule(**rule)
        setter = PARAM_SETTERS.get(snake)
        if setter is None:
            known = ", ".join((*PARAM_SETTERS, *STOP_RULE_PARAMS))
            raise ChainError(f"unknown parameter {name!r}; one of {known}")
        return self._transact(setter, self._coord.functions[setter](value))

    def set_stop_rule(self, target_metric_bps: int, patience: int, max_rounds: int) -> TxReceipt:
        """Owner only: stage the stop rule (0 turns each condition off)."""
        fn = self._coord.functions.setStopRule(target_metric_bps, patience, max_rounds)
        return self._transact("setStopRule", fn)

    def pause(self) -> TxReceipt:
        """Owner only: stop new rounds from opening."""
        return self._transact("pause", self._coord.functions.pause())

    def unpause(self) -> TxReceipt:
        return self._transact("unpause", self._coord.functions.unpause())

    def fund_treasury(self, amount: int) -> TxReceipt:
        self._approve(amount)
        return self._transact("fundTreasury", self._coord.functions.fundTreasury(amount))

    def advance(self) -> bool:
        """Move the round clock; False (no transaction) if there is nothing to do now."""
        fn = self._coord.functions.advance()
        try:
            self._transact("advance", fn)  # its gas estimate refuses what has nothing to do
        except TransactionRejected as exc:
            if exc.error in _NOTHING_TO_ADVANCE:  # e.g. another node advanced first
                return False
            raise
        return True

    def commit(self, r: int, cid: str) -> TxReceipt:
        """Commit the CID of this account's update for round ``r``."""
        return self._transact("commit", self._coord.functions.commit(r, cid_to_bytes(cid)))

    def submit_outcome(
        self, r: int, model_cid: str, reward_root: bytes, slash: list[str], metric_bps: int = 0
    ) -> TxReceipt:
        """Vote for round ``r``'s outcome (``slash`` is sorted here as the contract requires)
        with this node's evaluation of the outcome's model, ``metric_bps`` (0..10000: e.g.
        validation accuracy x 10,000), from which the chain's stop rule reads."""
        if not 0 <= metric_bps <= MAX_METRIC_BPS:
            raise ChainError(
                f"metric must be in [0, {MAX_METRIC_BPS}] basis points, got {metric_bps}"
            )
        fn = self._coord.functions.submitOutcome(
            r, cid_to_bytes(model_cid), reward_root, _sorted_addrs(slash), metric_bps
        )
        # Votes race: estimated while it would not finalize, this vote may be the one
        # that does once mined (finalization plus slashes; unused gas is not charged).
        extra = FINALIZE_GAS + SLASH_GAS * len(slash)
        receipt: TxReceipt = self._sender.transact("submitOutcome", fn, extra_gas=extra)
        return receipt

    def claim(self, r: int, amount: int, proof: Sequence[bytes]) -> TxReceipt:
        """Claim this account's contributor reward for round ``r``."""
        return self._transact("claim", self._coord.functions.claim(r, amount, list(proof)))

    def claim_many(
        self, rounds: Sequence[int], amounts: Sequence[int], proofs: Sequence[Sequence[bytes]]
    ) -> TxReceipt:
        """Claim several rounds' contributor rewards in one transaction (at most 32)."""
        fn = self._coord.functions.claimMany(list(rounds), list(amounts), [list(p) for p in proofs])
        return self._transact("claimMany", fn)

    def claim_voter_reward(self, r: int) -> TxReceipt:
        """Claim this account's share of round ``r``'s voter pool."""
        return self._transact("claimVoterReward", self._coord.functions.claimVoterReward(r))

    def sweep(self, r: int) -> TxReceipt:
        """Return what is left of finalized round ``r``'s pools to the treasury once its
        claim deadline passed (anyone may; ``NothingToSweep`` when all was claimed or
        swept, ``ClaimPeriodActive`` before the deadline)."""
        return self._transact("sweep", self._coord.functions.sweep(r))

    def report_inactive(self, address: str) -> TxReceipt:
        """Report a participant that missed ``inactivity_rounds`` settled rounds: part of its
        stake goes to the treasury and it is deactivated (``NotInactive`` otherwise, e.g.
        when another node reported it first)."""
        fn = self._coord.functions.reportInactive(self._addr(address))
        return self._transact("reportInactive", fn)

    # ------------------------------------------------------------------ internals

    def _approve(self, amount: int) -> bool:
        """Approve the coordinator for ``amount`` unless it already may pull that much."""
        if self.allowance() >= amount:
            return False
        fn = self._token.functions.approve(self.deployment.coordinator, amount)
        self._transact("approve", fn)
        return True

    def _transact(self, action: str, fn: Any) -> TxReceipt:
        receipt: TxReceipt = self._sender.transact(action, fn)
        return receipt

    def _view(self, name: str, *args: Any, contract: Any = None) -> Any:
        if contract is None:
            with contextlib.suppress(QuickReadUnavailable):
                return self._quick.call(name, args, self.address)
        target = contract if contract is not None else self._coord
        return self._sender.call(name, target.functions[name](*args))

    def _addr(self, address: str | None) -> ChecksumAddress:
        return to_checksum_address(address or self.address)

    def _batch(self, payloads: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run reads as JSON-RPC batches of ``BATCH_SIZE``. Each payload makes one web3 call
        (a contract function, or a ``w3.eth`` method: those must be made inside the
        batch, hence the callables); reverts raise ``TransactionRejected``."""
        out: list[Any] = []
        with rpc_errors(self.rpc_url):
            for start in range(0, len(payloads), BATCH_SIZE):
                chunk = payloads[start : start + BATCH_SIZE]
                try:
                    with self.w3.batch_requests() as batch:
                        for make in chunk:
                            batch.add(make())
                        out += batch.execute()
                except (ContractCustomError, ContractLogicError, Web3RPCError) as exc:
                    raise self._sender.rejected("batched read", exc) from None
        return out

    def _round_topics(self) -> dict[bytes, str]:
        if self._topics is None:
            abi: dict[str, Any] = {
                str(e.get("name")): e for e in self._coord.abi if e.get("type") == "event"
            }
            self._topics = {bytes(event_abi_to_log_topic(abi[n])): n for n in ROUND_EVENTS}
        return self._topics

    def _event(self, log: Any, topics: dict[bytes, str]) -> ChainEvent:
        name = topics[bytes(log["topics"][0])]
        decoded = self._coord.events[name]().process_log(log)
        args = {k: _plain_arg(name, k, v) for k, v in decoded["args"].items()}
        stamp = log.get("blockTimestamp")
        return ChainEvent(
            name=name,
            args=args,
            block=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            tx="0x" + bytes(log["transactionHash"]).hex(),
            timestamp=int(stamp, 16) if isinstance(stamp, str) else stamp,
        )

    def _quick_logs(self, event: str, filters: dict[str, Any]) -> list[Any]:
        latest = self._quick.block_number()
        found: list[Any] = []
        start = self.deployment.deploy_block
        while start <= latest:
            end = min(start + LOG_CHUNK_BLOCKS - 1, latest)
            found += self._quick.logs(event, filters, start, end)
            start = end + 1
        return found

    def _logs(self, event: str, filters: dict[str, Any]) -> list[Any]:
        if event in QUICK_EVENTS:  # the round engine's per-round reads: raw JSON-RPC
            with contextlib.suppress(QuickReadUnavailable):
                return self._quick_logs(event, filters)
        latest = self.block_number()
        found: list[Any] = []
        start = self.deployment.deploy_block
        with rpc_errors(self.rpc_url):
            while start <= latest:
                end = min(start + LOG_CHUNK_BLOCKS - 1, latest)
                found += self._coord.events[event].get_logs(
                    argument_filters=filters, from_block=start, to_block=end
                )
                start = end + 1
        return found


QUICK_EVENTS = frozenset({"CommitteeSelected", "Committed", "Finalized"})


def _snake_case(name: str) -> str:
    """``committeeSize`` -> ``committee_size`` (the contract's field names are accepted)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _round_info(r: int, raw: Any) -> RoundInfo:
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


def _plain_arg(event: str, name: str, value: Any) -> Any:
    if (event, name) in _CID_ARGS:
        return _cid_str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):  # e.g. Finalized's slash list
        return [_plain_arg(event, name, v) for v in value]
    return value


def _cid_str(raw: bytes) -> str:
    data = bytes(raw)
    try:
        return cid_from_bytes(data)
    except ValueError:
        return "0x" + data.hex()  # not a CIDv1: keep it visible rather than hide it


def _peer_str(raw: bytes) -> str:
    return peer_id_from_bytes(raw)


def _peer_bytes(peer_id: str) -> bytes:
    try:
        return peer_id_to_bytes(peer_id)
    except ValueError as exc:
        raise ChainError(f"bad peer id: {exc}") from None


def _sorted_addrs(addresses: Sequence[str]) -> list[str]:
    """Strictly ascending, deduplicated checksum addresses (the contract's slash order)."""
    unique = {to_checksum_address(a) for a in addresses}
    return sorted(unique, key=lambda a: int(a, 16))
