"""Operator commands over node.chain: devnet, stake, claim, rounds.

The CLI and scripts/ are thin shells over these functions. Each prints for people by
default and returns plain data for ``--json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import Deployment, DeployParams, deploy
from node.chain.tx import connect
from node.errors import ConfigError, FedchainError
from node.learning.local import genesis_params
from node.learning.tasks import get_task
from node.state import NodeState
from node.store.cid import compute_cid
from node.update.codec import encode_model

TOKEN = 10**18
DEFAULT_DEVNET_DIR = Path(".data/devnet")


def deployment_path(devnet_dir: Path) -> Path:
    return devnet_dir / "deployment.json"


def genesis_cid(task_name: str) -> str:
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
    net = devnet.up(data_dir, port=port)
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


def stake_more(chain: ChainClient, amount: int) -> dict[str, Any]:
    if chain.participant() is None:
        raise FedchainError(
            f"{chain.address} is not registered: `fedchain node run` registers it with its "
            "peer id and stake"
        )
    chain.stake(amount)
    me = chain.participant()
    return {"address": chain.address, "staked": amount, "stake": me.stake if me else 0}


def claim_all(chain: ChainClient, node_dir: Path) -> dict[str, Any]:
    """Claim every reward the node's state recorded and the chain says is unclaimed."""
    state = NodeState(node_dir / "state.sqlite")
    try:
        records = state.records()
    finally:
        state.close()
    todo = [
        r for r in records if int(r.get("earned", 0)) > 0 and not chain.is_claimed(int(r["round"]))
    ]
    if not todo:
        return {"claimed": [], "amount": 0, "message": "nothing to claim"}
    for record in todo:
        chain.claim(
            int(record["round"]), int(record["earned"]), [bytes.fromhex(p) for p in record["proof"]]
        )
    total = sum(int(r["earned"]) for r in todo)
    return {
        "claimed": [int(r["round"]) for r in todo],
        "amount": total,
        "message": f"claimed {total / TOKEN:.4f} FED for rounds "
        + ", ".join(str(r["round"]) for r in todo),
    }


def round_rows(chain: ChainClient, only: int | None = None) -> list[dict[str, Any]]:
    current = chain.current_round()
    numbers = [only] if only is not None else list(range(1, current + 1))
    rows = []
    for r in numbers:
        if not 1 <= r <= current:
            raise FedchainError(f"round {r} does not exist yet (current round: {current})")
        info = chain.round_info(r)
        outcome = chain.finalized_outcome(r) if info.status is RoundStatus.FINALIZED else None
        row: dict[str, Any] = {
            "round": r,
            "status": info.status.name.lower(),
            "commits": info.commit_count,
            "eligible": info.eligible_count,
            "model_cid": outcome.model_cid if outcome else None,
            "pool": info.contributor_pool,
            "claimed": info.contributor_claimed,
        }
        if only is not None:
            row["commitments"] = chain.commitments(r)
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
    table = Table(title="rounds")
    for column in ("round", "status", "commits", "model CID", "pool (FED)", "claimed (FED)"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["round"]),
            row["status"],
            f"{row['commits']}/{row['eligible']}",
            row["model_cid"] or "-",
            f"{row['pool'] / TOKEN:.2f}",
            f"{row['claimed'] / TOKEN:.2f}",
        )
    console.print(table)
    for row in rows:
        for author, cid in sorted(row.get("commitments", {}).items()):
            console.print(f"  {author} committed {cid}")


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
