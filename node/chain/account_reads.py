"""Reads about accounts and the deployment as a whole: balances, registry entries, stakes,
parameters, ownership and inactivity."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import partial
from typing import Any

from eth_utils import to_checksum_address

from node.chain.client_base import ChainBase
from node.chain.records import ChainParams, Participant, StakeInfo, peer_str
from node.chain.tx import rpc_errors
from node.chain.watch_reads import QuickReadUnavailable


class AccountReads(ChainBase):
    """Account, registry and parameter views."""

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
        return Participant(checksum, int(stake), peer_str(bytes(peer_raw)), list(addrs), active)

    def participant_count(self) -> int:
        """How many accounts ever registered (one cheap call; grows when one joins)."""
        return int(self._view("participantCount"))

    def registry_counts(self) -> tuple[int, int]:
        """How many accounts ever registered and how many are active (staked), in one
        JSON-RPC batch where the quick path can: either changing means the registry did."""
        with contextlib.suppress(QuickReadUnavailable):
            (count, active), _ = self._quick.views(
                [("participantCount", ()), ("activeCount", ())], self.address
            )
            return int(count), int(active)
        return self.participant_count(), int(self._view("activeCount"))

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
            Participant(a, int(stake), peer_str(bytes(peer_raw)), list(addrs), active)
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

    def claimed_rewards(self, address: str | None = None) -> dict[int, int]:
        """round -> contributor reward ``address`` claimed (``RewardClaimed`` events)."""
        events = self._logs("RewardClaimed", {"account": self._addr(address)})
        return {int(e["args"]["round"]): int(e["args"]["amount"]) for e in events}

    def storage_word(self, slot: int) -> int:
        """One 32-byte storage slot of the coordinator, as an integer (for state that has
        no view, e.g. the stop rule's bookkeeping word; node/operator/stopstate.py)."""
        with rpc_errors(self.rpc_url):
            raw = self.w3.eth.get_storage_at(self._coord.address, slot)
        return int.from_bytes(bytes(raw), "big")

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
