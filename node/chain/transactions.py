"""The chain client's transactions: staking, owner settings, the round clock, commits,
votes, claims and reports. Reverts raise ``TransactionRejected`` naming the contract's
custom error."""

from __future__ import annotations

from collections.abc import Sequence

from web3.types import TxReceipt

from node.chain.account_reads import AccountReads
from node.chain.errors import InsufficientFunds, TransactionRejected
from node.chain.records import (
    MAX_METRIC_BPS,
    PARAM_SETTERS,
    STOP_RULE_PARAMS,
    peer_bytes,
    snake_case,
    sorted_addrs,
)
from node.errors import ChainError
from node.types import cid_to_bytes

FINALIZE_GAS = 150_000  # headroom for the finalizing path of submitOutcome
SLASH_GAS = 40_000  # per slashed address
# advance() reverts that mean "not now": another node advanced first, too few participants,
# or the finalized round's late-vote grace is still running; or the stop rule finished the
# deployment (``finished``: no round opens any more).
_NOTHING_TO_ADVANCE = ("RoundInProgress", "NotEnoughParticipants", "GraceActive", "DeploymentOver")


class Transactions(AccountReads):
    """Transactions signed by this client's account."""

    def ensure_registered(self, stake: int, peer_id: str, addrs: list[str]) -> bool:
        """Register with ``stake`` unless registered; refresh peer info if it changed.

        Returns True if this call registered the account.
        """
        peer_raw = peer_bytes(peer_id)
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
        snake = name if name in PARAM_SETTERS or name in STOP_RULE_PARAMS else snake_case(name)
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
            r, cid_to_bytes(model_cid), reward_root, sorted_addrs(slash), metric_bps
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

    def _approve(self, amount: int) -> bool:
        """Approve the coordinator for ``amount`` unless it already may pull that much."""
        if self.allowance() >= amount:
            return False
        fn = self._token.functions.approve(self.deployment.coordinator, amount)
        self._transact("approve", fn)
        return True
