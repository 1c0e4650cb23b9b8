"""Operator commands over node.chain: devnet, stake, claim, rounds.

The CLI and scripts/ are thin shells over these functions. Each prints for people by
default and returns plain data for ``--json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import Deployment, DeployParams, deploy
from node.chain.tx import connect
from node.errors import ConfigError, FedchainError
from node.state import NodeState

TOKEN = 10**18
MAX_CLAIM_BATCH = 32  # FedCoordinator.MAX_CLAIM_BATCH
DEFAULT_DEVNET_DIR = Path(".data/devnet")
DEVNET_BLOCK_TIME = 1  # seconds between empty blocks: round deadlines pass on an idle chain


def deployment_path(devnet_dir: Path) -> Path:
    return devnet_dir / "deployment.json"


def genesis_cid(task_name: str) -> str:
    # Imported here: the operator scripts never need torch, and it takes seconds to load.
    from node.learning.local import genesis_params
    from node.learning.tasks import get_task
    from node.store.cid import compute_cid
    from node.update.codec import encode_model

    return compute_cid(encode_model(genesis_params(get_task(task_name))))


def deployed_here(rpc_url: str, path: Path) -> Deployment | None:
    """The deployment in ``path`` if its coordinator exists on the chain at ``rpc_url``."""
    if not path.is_file():
        return None
    deployment = Deployment.load(path)
    code = connect(rpc_url).eth.get_code(deployment.coordinator)  # type: ignore[arg-type]
    return deployment if len(code) > 0 else None


def devnet_up(
    data_dir: Path,
    port: int,
    console: Console,
    task: str = "mnist5k-mlp",
    params: DeployParams | None = None,
) -> tuple[devnet.Devnet, Deployment]:
    data_dir = data_dir.resolve()  # anvil runs from another working directory
    net = devnet.up(data_dir, port=port, block_time=DEVNET_BLOCK_TIME)
    path = deployment_path(data_dir)
    deployment = deployed_here(net.rpc_url, path)
    if deployment is None:
        deployment = deploy(
            net.rpc_url, net.accounts[0][1], genesis_cid(task), task, params or DeployParams(), path
        )
        console.print(
            f"deployed to chain {deployment.chain_id}: coordinator "
            f"{deployment.coordinator}, token {deployment.token}"
        )
    console.print(f"devnet at {net.rpc_url} (chain {net.chain_id}); deployment file {path}")
    table = Table(title="funded accounts (anvil's test keys: never use them elsewhere)")
    table.add_column("#")
    table.add_column("address")
    table.add_column("private key")
    for index, (address, key) in enumerate(net.accounts[:6]):
        table.add_row(str(index), address, key)
    console.print(table)
    return net, deployment


def devnet_status(data_dir: Path, console: Console) -> devnet.DevnetStatus:
    state = devnet.status(data_dir)
    if not state.running:
        console.print(f"devnet in {data_dir} is down (`fedchain devnet up` starts it)")
    else:
        console.print(
            f"devnet up at {state.rpc_url} (pid {state.pid}, chain {state.chain_id}, "
            f"block {state.block_number})"
        )
    return state


def read_key(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"key file {path} not found")
    key = path.read_text().strip()
    if not key.startswith("0x") or len(key) != 66:
        raise ConfigError(f"key file {path} must hold one 0x-prefixed 32-byte hex private key")
    return key


def client(deployment_file: Path, key_file: Path | None, rpc_url: str = "") -> ChainClient:
    deployment = Deployment.load(deployment_file)
    # Read-only use needs no secret: any well-formed key signs nothing.
    key = read_key(key_file) if key_file else "0x" + "11" * 32
    return ChainClient(rpc_url or deployment.rpc_url, deployment, key)


def key_file_of(key_file: Path | None, node_dir: Path | None) -> Path | None:
    """The key file to sign with: ``--key-file``, else the node directory's ``key.hex``."""
    if key_file is not None:
        return key_file
    if node_dir is not None:
        return node_dir / "key.hex"
    return None


def parse_amount(text: str | Decimal | int) -> int:
    """FED as typed by a person ("12.5") -> token base units; ``FedchainError`` if not > 0."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise FedchainError(f"amount {text!r} is not a number of FED") from None
    if not value.is_finite() or value <= 0:
        raise FedchainError(f"amount must be a positive number of FED, got {text}")
    units = value * TOKEN
    if units != units.to_integral_value():
        raise FedchainError(f"amount {text} has more than 18 decimals")
    return int(units)


def fed(units: int) -> str:
    """Token base units as FED for people: ``12.5 FED``."""
    text = f"{Decimal(units) / TOKEN:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} FED"


def in_words(seconds: int) -> str:
    """A duration for people: ``45 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = -(-seconds // 60)  # round up: "ends in 1 min", never "in 0 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _position(chain: ChainClient) -> dict[str, Any]:
    info = chain.stake_info()
    now = chain.chain_time()
    return {
        "address": chain.address,
        "registered": info.registered,
        "active": info.active,
        "stake": info.stake,
        "unbonding": info.unbonding,
        "unlock_at": info.unlock_at,
        "withdrawable": info.unbonding if info.unbonding and now >= info.unlock_at else 0,
        "cooldown_left": max(0, info.unlock_at - now) if info.unbonding else 0,
    }


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


def _node_records(node_dir: Path | None) -> list[dict[str, Any]]:
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
    for record in _node_records(node_dir):
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


def balance(chain: ChainClient, node_dir: Path | None = None) -> dict[str, Any]:
    """Wallet, stake, unbonding and claimable rewards of this account."""
    result = _position(chain)
    contrib = contributor_claims(chain, node_dir)
    votes = voter_claims(chain)
    result.update(
        eth=chain.eth_balance(),
        tokens=chain.token_balance(),
        allowance=chain.allowance(),
        min_stake=chain.params().min_stake,
        unclaimed_contributor=sum(c["amount"] for c in contrib if not c["claimed"]),
        unclaimed_voter=sum(v["amount"] for v in votes if not v["claimed"]),
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
    table.add_row("unclaimed contributor rewards", fed(result["unclaimed_contributor"]))
    table.add_row("unclaimed voter rewards", fed(result["unclaimed_voter"]))
    console.print(table)


def print_result(result: dict[str, Any], console: Console, as_json: bool) -> None:
    """Notes, then the message (or the JSON document)."""
    if as_json:
        console.print_json(json.dumps(result))
        return
    for note in result.get("notes", []):
        console.print(note)
    console.print(result["message"])


def round_rows(
    chain: ChainClient,
    only: int | None = None,
    me: str | None = None,
    node_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per round; ``me`` adds "your reward", ``only`` adds commitments and votes."""
    current = chain.current_round()
    if only is not None and not 1 <= only <= current:
        raise FedchainError(f"round {only} does not exist yet (current round: {current})")
    numbers = [only] if only is not None else list(range(1, current + 1))
    votes_by_round: dict[int, list[Any]] = {}
    for vote in chain.votes(only):
        votes_by_round.setdefault(vote.round, []).append(vote)
    earned: dict[int, int] = {}
    if me is not None:
        earned = dict(chain.claimed_rewards(me))
        for record in _node_records(node_dir):
            earned.setdefault(int(record["round"]), int(record.get("earned", 0)))
    rows = []
    for r in numbers:
        info = chain.round_info(r)
        outcome = chain.finalized_outcome(r) if info.status is RoundStatus.FINALIZED else None
        votes = votes_by_round.get(r, [])
        row: dict[str, Any] = {
            "round": r,
            "status": info.status.name.lower(),
            "commits": info.commit_count,
            "eligible": info.eligible_count,
            "votes": len(votes),
            "model_cid": outcome.model_cid if outcome else None,
            "pool": info.contributor_pool + info.voter_pool,
            "contributor_pool": info.contributor_pool,
            "voter_pool": info.voter_pool,
            "claimed": info.contributor_claimed + info.voter_claimed,
        }
        if me is not None:
            voter_share = 0
            for vote in votes:
                if vote.voter == me and outcome and vote.outcome_key == info.outcome_key:
                    voter_share = info.voter_pool * vote.weight // max(1, info.winning_weight)
            row["your_reward"] = earned.get(r, 0) + voter_share
        if only is not None:
            row["commitments"] = chain.commitments(r)
            row["vote_list"] = [
                {
                    "voter": v.voter,
                    "outcome_id": "0x" + v.outcome_id.hex(),
                    "weight": v.weight,
                    "winning": v.outcome_key == info.outcome_key,
                }
                for v in votes
            ]
            row["info"] = {
                k: (v.hex() if isinstance(v, bytes) else v)
                for k, v in asdict(info).items()
                if k != "status"
            }
        rows.append(row)
    return rows


def print_rounds(rows: list[dict[str, Any]], console: Console, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no rounds yet")
        return
    console.print(rounds_table(rows))
    _round_details(rows, console)


def rounds_table(rows: list[dict[str, Any]]) -> Table:
    mine = any("your_reward" in row for row in rows)
    table = Table(title="rounds")
    columns = ["round", "status", "commits", "votes", "model CID", "pool (FED)"]
    for column in columns + (["your reward (FED)"] if mine else []):
        table.add_column(column)
    for row in rows:
        cells = [
            str(row["round"]),
            row["status"],
            f"{row['commits']}/{row['eligible']}",
            str(row["votes"]),
            row["model_cid"] or "-",
            f"{row['pool'] / TOKEN:.2f}",
        ]
        if mine:
            cells.append(f"{row.get('your_reward', 0) / TOKEN:.4f}")
        table.add_row(*cells)
    return table


def _round_details(rows: list[dict[str, Any]], console: Console) -> None:
    for row in rows:
        if "commitments" not in row:
            continue
        info = row["info"]
        console.print(
            f"round {row['round']}: opened {info['opened_at']}, commit deadline "
            f"{info['commit_deadline']}, vote deadline {info['vote_deadline']}, "
            f"stake snapshot {fed(info['stake_snapshot'])}"
        )
        for author, cid in sorted(row["commitments"].items()):
            console.print(f"  {author} committed {cid}")
        for vote in row["vote_list"]:
            mark = " (winning)" if vote["winning"] else ""
            console.print(
                f"  {vote['voter']} voted {vote['outcome_id'][:18]}... "
                f"weight {fed(vote['weight'])}{mark}"
            )


def fund_on_devnet(devnet_dir: Path, address: str, tokens: int, eth: int) -> None:
    """Mint FED and send ETH from the devnet's deployer (anvil account 0)."""
    from node.chain.deploy import fund_accounts

    state = devnet.status(devnet_dir)
    if not state.running or not state.rpc_url:
        raise FedchainError(f"no devnet running from {devnet_dir}: `fedchain devnet up` first")
    deployment = Deployment.load(deployment_path(devnet_dir))
    net = devnet.up(devnet_dir.resolve(), port=int(state.rpc_url.rsplit(":", 1)[1]))
    fund_accounts(
        net.rpc_url, deployment, net.accounts[0][1], [address], tokens * TOKEN, eth=eth * 10**18
    )
