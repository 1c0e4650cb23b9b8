"""Deploy FedToken + FedCoordinator and record the deployment in a JSON file.

Deployment file (``version`` 1)::

    {
      "version": 1,
      "chain_id": 31337,
      "rpc_url": "http://127.0.0.1:8545",
      "token": "0x...", "coordinator": "0x...", "deployer": "0x...",
      "deploy_block": 2,
      "genesis_model_cid": "bafk...",
      "task_id": "mnist", "task_id_hash": "0x<keccak256(task_id)>",
      "params": {"min_stake": ..., "commit_window": ..., "vote_window": ...,
                 "reward_per_round": ..., "voter_share_bps": ..., "slash_bps": ...,
                 "min_participants": ..., "unstake_cooldown": ..., "treasury": ...}
    }
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from node.chain.artifacts import load_artifact
from node.chain.tx import Sender, connect
from node.errors import ChainError
from node.types import cid_to_bytes

TOKEN = 10**18
DEPLOYMENT_VERSION = 1
TOKEN_NAME = "Fedchain Token"
TOKEN_SYMBOL = "FED"


@dataclass(frozen=True)
class DeployParams:
    """Coordinator parameters (token amounts in wei-like units, windows in seconds)."""

    min_stake: int = 10 * TOKEN
    commit_window: int = 60
    vote_window: int = 60
    reward_per_round: int = 1000 * TOKEN
    voter_share_bps: int = 2000
    slash_bps: int = 5000
    min_participants: int = 3
    unstake_cooldown: int = 300  # seconds from requestUnstake to the earliest withdraw
    treasury: int = 100_000 * TOKEN  # minted to the deployer and put in the treasury

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int, int]:
        """The Solidity ``Params`` struct, in field order."""
        return (
            self.min_stake,
            self.commit_window,
            self.vote_window,
            self.reward_per_round,
            self.voter_share_bps,
            self.slash_bps,
            self.min_participants,
            self.unstake_cooldown,
        )


@dataclass(frozen=True)
class Deployment:
    """Where the contracts of one fedchain task live."""

    chain_id: int
    rpc_url: str
    token: str
    coordinator: str
    deployer: str
    deploy_block: int
    genesis_model_cid: str
    task_id: str
    params: DeployParams = field(default_factory=DeployParams)

    @property
    def task_id_hash(self) -> bytes:
        """The ``bytes32`` task id stored on chain: keccak256 of the UTF-8 task id."""
        return task_id_hash(self.task_id)

    @property
    def contributor_pool_per_round(self) -> int:
        """Contributor pool of a round when the treasury covers ``reward_per_round``."""
        reward = self.params.reward_per_round
        return reward - reward * self.params.voter_share_bps // 10_000

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"version": DEPLOYMENT_VERSION, **data}
        data["task_id_hash"] = "0x" + self.task_id_hash.hex()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        if data.get("version") != DEPLOYMENT_VERSION:
            raise ChainError(f"unsupported deployment file version {data.get('version')!r}")
        return cls(
            chain_id=int(data["chain_id"]),
            rpc_url=str(data["rpc_url"]),
            token=to_checksum_address(data["token"]),
            coordinator=to_checksum_address(data["coordinator"]),
            deployer=to_checksum_address(data["deployer"]),
            deploy_block=int(data["deploy_block"]),
            genesis_model_cid=str(data["genesis_model_cid"]),
            task_id=str(data["task_id"]),
            params=DeployParams(**{k: int(v) for k, v in data["params"].items()}),
        )

    def save(self, path: Path) -> None:
        """Write the deployment file atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a deployment file; ``ChainError`` naming the file if missing or malformed."""
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ChainError(
                f"no deployment file at {path}: deploy first (`fedchain devnet up`)"
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ChainError(f"malformed deployment file {path}: {exc}") from None


def task_id_hash(task_id: str) -> bytes:
    """keccak256 of the UTF-8 task id (the coordinator's ``taskId``)."""
    return keccak(task_id.encode())


def deploy(
    rpc_url: str,
    deployer_key: str,
    genesis_model_cid: str,
    task_id: str,
    params: DeployParams,
    out: Path,
) -> Deployment:
    """Deploy token + coordinator, fund the treasury, write and return the deployment."""
    w3 = connect(rpc_url)
    sender = Sender(w3, deployer_key)
    token_art = load_artifact("FedToken")
    coord_art = load_artifact("FedCoordinator")
    try:
        genesis = cid_to_bytes(genesis_model_cid)
    except ValueError as exc:
        raise ChainError(f"bad genesis model CID: {exc}") from None

    token_addr, _ = sender.deploy(
        "deploy FedToken", token_art, TOKEN_NAME, TOKEN_SYMBOL, sender.address
    )
    coord_addr, block = sender.deploy(
        "deploy FedCoordinator",
        coord_art,
        token_addr,
        task_id_hash(task_id),
        genesis,
        params.as_tuple(),
    )
    token = w3.eth.contract(address=to_checksum_address(token_addr), abi=token_art.abi)
    coord = w3.eth.contract(address=to_checksum_address(coord_addr), abi=coord_art.abi)
    if params.treasury:
        sender.transact("mint treasury", token.functions.mint(sender.address, params.treasury))
        sender.transact("approve treasury", token.functions.approve(coord_addr, params.treasury))
        sender.transact("fund treasury", coord.functions.fundTreasury(params.treasury))

    deployment = Deployment(
        chain_id=sender.chain_id,
        rpc_url=rpc_url,
        token=token_addr,
        coordinator=coord_addr,
        deployer=sender.address,
        deploy_block=block,
        genesis_model_cid=genesis_model_cid,
        task_id=task_id,
        params=params,
    )
    deployment.save(out)
    return deployment


def fund_accounts(
    rpc_url: str,
    deployment: Deployment,
    owner_key: str,
    addresses: Sequence[str],
    amount: int,
    *,
    eth: int = 0,
) -> None:
    """Mint ``amount`` tokens (and send ``eth`` wei, if any) to each address.

    ``owner_key`` must be the token owner's key (the deployer's, unless ownership moved).
    """
    w3 = connect(rpc_url)
    sender = Sender(w3, owner_key)
    token = w3.eth.contract(
        address=to_checksum_address(deployment.token), abi=load_artifact("FedToken").abi
    )
    for address in addresses:
        checksum = to_checksum_address(address)
        if amount:
            sender.transact(f"mint to {checksum}", token.functions.mint(checksum, amount))
        if eth:
            sender.send_value(f"fund {checksum}", checksum, eth)
