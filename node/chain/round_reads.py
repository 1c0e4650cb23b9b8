"""Reads about rounds: their state, committees, commitments, votes, outcomes and rewards."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import partial
from typing import Any

from eth_utils import to_checksum_address

from node.chain.client_base import ChainBase
from node.chain.records import (
    DeploymentEnd,
    FinalizedOutcome,
    RoundInfo,
    RoundStatus,
    StakeInfo,
    StopReason,
    VoteRecord,
    cid_str,
    round_info_from_raw,
    sorted_addrs,
)
from node.chain.watch_reads import QuickReadUnavailable
from node.errors import ChainError
from node.types import cid_to_bytes


class RoundReads(ChainBase):
    """Round, committee, vote and outcome views."""

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

    def current_round(self) -> int:
        """The latest opened round (0 before the first)."""
        return int(self._view("currentRound"))

    def round_info(self, r: int) -> RoundInfo:
        """Everything recorded about round ``r``."""
        return round_info_from_raw(r, self._view("roundInfo", r))

    def round_view(self, r: int) -> tuple[RoundInfo, int]:
        """``round_info(r)`` and the latest block's timestamp, in one JSON-RPC batch."""
        with contextlib.suppress(QuickReadUnavailable):
            info, now = self._quick.call_and_time("roundInfo", (r,), self.address)
            return round_info_from_raw(r, info), now
        f = self._coord.functions
        raw, latest = self._batch([lambda: f.roundInfo(r), lambda: self.w3.eth.get_block("latest")])
        return round_info_from_raw(r, raw), int(latest["timestamp"])

    def current_view(self, r: int) -> tuple[int, RoundInfo, int]:
        """The latest opened round, round ``r`` and the latest block's timestamp, in one
        JSON-RPC batch where the quick path can (the round loop's read while it stays in
        round ``r``)."""
        with contextlib.suppress(QuickReadUnavailable):
            calls = [("currentRound", ()), ("roundInfo", (r,))]
            (current, raw), now = self._quick.views(calls, self.address)
            return int(current), round_info_from_raw(r, raw), now
        current = self.current_round()
        info, now = self.round_view(r)
        return current, info, now

    def round_base_view(self, r: int) -> tuple[RoundInfo, str, RoundInfo]:
        """Round ``r``, the latest model's CID, round ``r`` again: one JSON-RPC batch where
        the quick path can (three reads otherwise)."""
        with contextlib.suppress(QuickReadUnavailable):
            calls = [("roundInfo", (r,)), ("latestModelCid", ()), ("roundInfo", (r,))]
            (before, cid, after), _ = self._quick.views(calls, self.address)
            return (
                round_info_from_raw(r, before),
                cid_str(cid),
                round_info_from_raw(r, after),
            )
        return self.round_info(r), self.latest_model_cid(), self.round_info(r)

    def commit_view(self, r: int) -> tuple[RoundInfo, StakeInfo, int]:
        """What a commit checks before training: round ``r``, this account's stake and the
        chain time; one JSON-RPC batch where the quick path can (three reads otherwise)."""
        me = self._addr(None)
        with contextlib.suppress(QuickReadUnavailable):
            calls = [("roundInfo", (r,)), ("stakeInfo", (me,))]
            (info, stake), now = self._quick.views(calls, self.address)
            return round_info_from_raw(r, info), _stake_info(me, stake), now
        return self.round_info(r), _stake_info(me, self._view("stakeInfo", me)), self.chain_time()

    def voter_claim_view(
        self, r: int, address: str | None = None
    ) -> tuple[RoundInfo, tuple[bytes, int, bool], int, int]:
        """What a voter-reward claim checks first: round ``r``, ``address``'s vote in it
        (``vote_of``), the current round and the chain time; one JSON-RPC batch where the
        quick path can."""
        voter = self._addr(address)
        with contextlib.suppress(QuickReadUnavailable):
            calls = [("roundInfo", (r,)), ("voteOf", (r, voter)), ("currentRound", ())]
            (info, vote, current), now = self._quick.views(calls, self.address)
            outcome, weight, claimed = vote
            return (
                round_info_from_raw(r, info),
                (bytes(outcome), int(weight), bool(claimed)),
                int(current),
                now,
            )
        return self.round_info(r), self.vote_of(r, voter), self.current_round(), self.chain_time()

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
        return {to_checksum_address(e["args"]["author"]): cid_str(e["args"]["cid"]) for e in events}

    def commitment_cid(self, r: int, address: str | None = None) -> str | None:
        """The CID ``address`` (default: this account) committed in round ``r``, if any."""
        author = self._addr(address)
        if self._view("commitmentOf", r, author) == bytes(32):
            return None
        events = self._logs("Committed", {"round": r, "author": author})
        return cid_str(events[-1]["args"]["cid"]) if events else None

    def finished(self) -> bool:
        """Whether the stop rule finished the deployment (no round opens any more)."""
        return bool(self._view("finished"))

    def final_model_cid(self) -> str | None:
        """The final model's CID once the deployment finished; None while it runs."""
        raw = bytes(self._view("finalModelCid"))
        return cid_str(raw) if raw else None

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
            model_cid=cid_str(args["modelCid"]),
        )

    def agreed_metric(self, r: int) -> int:
        """Round ``r``'s agreed metric in basis points: its winning voters' stake-weighted
        mean evaluation at finalization (0 unless finalized)."""
        return int(self._view("agreedMetric", r))

    def agreed_metrics(self, rounds: Sequence[int]) -> list[int]:
        """``agreed_metric`` of each round, in one batch."""
        f = self._coord.functions
        return [int(m) for m in self._batch([partial(f.agreedMetric, r) for r in rounds])]

    def has_voted(self, r: int, address: str | None = None) -> bool:
        return bool(self._view("hasVoted", r, self._addr(address)))

    def votes_for(self, r: int, outcome_id: bytes) -> int:
        return int(self._view("votesFor", r, outcome_id))

    def outcome_id(self, model_cid: str, reward_root: bytes, slash: Sequence[str]) -> bytes:
        """The id the contract counts an outcome under."""
        return bytes(
            self._view("outcomeIdOf", cid_to_bytes(model_cid), reward_root, sorted_addrs(slash))
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
            model_cid=cid_str(args["modelCid"]),
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
        return cid_str(self._view("latestModelCid"))

    def genesis_model_cid(self) -> str:
        return cid_str(self._view("genesisModelCid"))

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


def _stake_info(address: str, raw: Sequence[Any]) -> StakeInfo:
    stake, unbonding, unlock_at, active, active_from = raw
    return StakeInfo(
        address, int(stake), int(unbonding), int(unlock_at), bool(active), int(active_from)
    )
