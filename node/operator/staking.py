"""Stake, top up, unstake, withdraw, and the account's position."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from node.errors import FedchainError
from node.operator.format import fed, in_words
from node.operator.rewards import contributor_claims, voter_claims

if TYPE_CHECKING:
    from node.chain.client import ChainClient, StakeInfo


def _position(chain: ChainClient) -> dict[str, Any]:
    return _position_of(chain.address, chain.stake_info(), chain.chain_time())


def _position_of(address: str, info: StakeInfo, now: int) -> dict[str, Any]:
    return {
        "address": address,
        "registered": info.registered,
        "active": info.active,
        "stake": info.stake,
        "unbonding": info.unbonding,
        "unlock_at": info.unlock_at,
        "withdrawable": info.unbonding if info.unbonding and now >= info.unlock_at else 0,
        "cooldown_left": max(0, info.unlock_at - now) if info.unbonding else 0,
    }


def wait_until_withdrawable(
    chain: ChainClient,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Block until the account's unbonding tokens can be withdrawn (reads only).

    ``FedchainError`` when nothing is unbonding, or when the cool-down ends later than
    ``timeout`` seconds from now (said at once, not after waiting).
    """
    position = _position(chain)
    if position["unbonding"] == 0:
        raise FedchainError("nothing to withdraw: request an unstake first")
    if position["cooldown_left"] > timeout:
        raise FedchainError(
            f"cool-down ends in {in_words(position['cooldown_left'])}, later than --timeout "
            f"{in_words(int(timeout))}"
        )
    waited = 0.0
    while not position["withdrawable"]:
        if on_wait is not None:
            on_wait(position["cooldown_left"])
        pause = min(max(1.0, float(position["cooldown_left"])), 5.0)
        if waited + pause > timeout + 5.0:
            raise FedchainError(f"still not withdrawable after {in_words(int(waited))}")
        sleep(pause)
        waited += pause
        position = _position(chain)
    return position


def _peer_id_of(node_dir: Path) -> str:
    from libp2p.peer.id import ID

    from node.p2p.identity import load_or_create_identity

    return str(ID.from_pubkey(load_or_create_identity(node_dir).public_key))


def stake_more(chain: ChainClient, amount: int, node_dir: Path | None = None) -> dict[str, Any]:
    """Stake ``amount``: top up if registered, else register with the node's peer id."""
    notes: list[str] = []
    balance = chain.token_balance()
    if balance < amount:
        raise FedchainError(
            f"{chain.address} holds {fed(balance)}, less than the {fed(amount)} to stake"
            + (
                f" (on the devnet: `fedchain fund {chain.address}`)"
                if chain.chain_id == 31337
                else ""
            )
        )
    if chain.allowance() < amount:
        notes.append("insufficient allowance: approving first")
    info = chain.stake_info()
    min_stake = chain.params().min_stake
    if info.registered:
        chain.stake(amount)
        action = "topped up"
    else:
        if amount < min_stake:
            raise FedchainError(
                f"registering needs at least the minimum stake {fed(min_stake)}, not {fed(amount)}"
            )
        if node_dir is None:
            raise FedchainError(
                f"{chain.address} is not registered: give --node-dir so it registers with the "
                "node's peer id (or start the node: `fedchain node run` registers it)"
            )
        chain.ensure_registered(amount, _peer_id_of(node_dir), [])
        action = "registered"
    result = _position(chain)
    if not result["active"]:
        notes.append(f"still inactive: the stake is below the minimum {fed(min_stake)}")
    result.update(
        staked=amount,
        action=action,
        notes=notes,
        message=f"{action}: staked {fed(amount)}; stake now {fed(result['stake'])}",
    )
    return result


def request_unstake(chain: ChainClient, amount: int | None) -> dict[str, Any]:
    """Request ``amount`` (all of the stake if None) out; it unlocks after the cool-down."""
    info = chain.stake_info()
    if not info.registered:
        raise FedchainError(f"{chain.address} is not registered: nothing is staked")
    if info.stake == 0:
        raise FedchainError(f"nothing staked to unstake ({fed(info.unbonding)} already unbonding)")
    amount = info.stake if amount is None else amount
    if amount > info.stake:
        raise FedchainError(f"cannot unstake {fed(amount)}: the stake is {fed(info.stake)}")
    notes: list[str] = []
    min_stake = chain.params().min_stake
    remaining = info.stake - amount
    if info.active and remaining < min_stake:
        notes.append(
            f"the remaining stake {fed(remaining)} is below the minimum {fed(min_stake)}: "
            "this account stops taking part in rounds, also the one open now"
        )
    chain.request_unstake(amount)
    result = _position(chain)
    result.update(
        requested=amount,
        notes=notes,
        message=f"requested {fed(amount)} out of the stake; cool-down ends in "
        f"{in_words(result['cooldown_left'])}, then `withdraw`",
    )
    return result


def withdraw(chain: ChainClient) -> dict[str, Any]:
    """Withdraw the unbonding tokens once their cool-down ended."""
    before = _position(chain)
    if before["unbonding"] == 0:
        raise FedchainError("nothing to withdraw: request an unstake first")
    if before["withdrawable"] == 0:
        raise FedchainError(
            f"cool-down ends in {in_words(before['cooldown_left'])}: "
            f"{fed(before['unbonding'])} can be withdrawn then"
        )
    chain.withdraw()
    result = _position(chain)
    result.update(
        withdrawn=before["unbonding"],
        notes=[],
        message=f"withdrew {fed(before['unbonding'])}",
    )
    return result


def balance(chain: ChainClient, node_dir: Path | None = None) -> dict[str, Any]:
    """Wallet, stake, unbonding and claimable rewards of this account.

    One batch of views plus the local event index (index.py): the cost does not grow
    with the number of rounds in history.
    """
    from node.operator.index import open_index

    views = chain.account_views()
    result = _position_of(chain.address, views["stake_info"], views["chain_time"])
    index = open_index(chain)
    try:
        contrib = contributor_claims(chain, node_dir, index)
        votes = voter_claims(chain, index)
        reports = index.events_of(chain.address, ["ReportedInactive"])
    finally:
        index.close()
    result.update(
        eth=views["eth"],
        tokens=views["tokens"],
        allowance=views["allowance"],
        min_stake=views["params"].min_stake,
        missed_rounds=views["missed_rounds"],
        inactivity_rounds=views["params"].inactivity_rounds,
        # times it was reported for not voting: stake leaked to the treasury, deactivated
        reported_inactive=[
            {
                "block": e["block"],
                "tx": e["tx"],
                "missed": int(e["args"]["missed"]),
                "leaked": int(e["args"]["leaked"]),
                "reporter": e["args"]["reporter"],
            }
            for e in reports
        ],
        unclaimed_contributor=sum(
            c["amount"] for c in contrib if not c["claimed"] and not c["expired"]
        ),
        unclaimed_voter=sum(v["amount"] for v in votes if not v["claimed"] and not v["expired"]),
    )
    return result


def print_balance(result: dict[str, Any], console: Console, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"account {result['address']}", show_header=False)
    table.add_column("what")
    table.add_column("amount")
    table.add_row("ETH (gas)", f"{Decimal(result['eth']) / 10**18:f}".rstrip("0").rstrip("."))
    table.add_row("FED in wallet", fed(result["tokens"]))
    state = (
        "active" if result["active"] else ("inactive" if result["registered"] else "unregistered")
    )
    table.add_row("stake", f"{fed(result['stake'])} ({state}; minimum {fed(result['min_stake'])})")
    if result["unbonding"]:
        when = (
            "withdrawable now"
            if result["withdrawable"]
            else f"cool-down ends in {in_words(result['cooldown_left'])}"
        )
        table.add_row("unbonding", f"{fed(result['unbonding'])} ({when})")
    if result["active"]:
        table.add_row(
            "missed votes",
            f"{result['missed_rounds']} settled round(s) in a row (reportable as inactive at "
            f"{result['inactivity_rounds']})",
        )
    reports = result["reported_inactive"]
    if reports:
        leaked = sum(r["leaked"] for r in reports)
        table.add_row(
            "reported inactive",
            f"{len(reports)} time(s), {fed(leaked)} leaked to the treasury (stake again to "
            "take part)",
        )
    table.add_row("unclaimed contributor rewards", fed(result["unclaimed_contributor"]))
    table.add_row("unclaimed voter rewards", fed(result["unclaimed_voter"]))
    console.print(table)
