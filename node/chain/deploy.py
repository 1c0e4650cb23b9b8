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
      "task": "mnist"            (how nodes load the task: a name or module:function),
      "rule": "nnm+trimmed_mean", "byzantine_f": 1   (the aggregation every node runs),
      "params": {"min_stake": ..., "commit_window": ..., "vote_window": ...,
                 "reward_per_round": ..., "voter_share_bps": ..., "slash_bps": ...,
                 "min_participants": ..., "unstake_cooldown": ..., "late_vote_grace": ...,
                 "claim_period": ..., "inactivity_rounds": ..., "inactivity_leak_bps": ...,
                 "committee_size": ..., "target_metric_bps": ..., "patience": ...,
                 "max_rounds": ..., "treasury": ..., "supply": ...}
    }

``task``, ``rule`` and ``byzantine_f`` are optional (files written before they existed
load with the task id as the task and an empty rule: each node's configured rule).
Parameters a file lacks load with their defaults.

The token's whole supply is minted once, to the deployer, when it is deployed (FedToken
has no mint): the deployer funds the treasury from it and is the devnet's faucet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from node.errors import ChainError
from node.learning.spec import TrainingSpec
from node.types import cid_to_bytes

TOKEN = 10**18
DEPLOYMENT_VERSION = 1
TOKEN_NAME = "Fedchain Token"
TOKEN_SYMBOL = "FED"
# The coordinator's parameter bounds (FedCoordinator.sol constants).
MIN_WINDOW = 10
MAX_WINDOW = 30 * 86_400
MAX_MIN_STAKE = 10**30
MAX_REWARD = 10**30
MAX_VOTER_SHARE_BPS = 5000
MAX_SLASH_BPS = 5000
MAX_MIN_PARTICIPANTS = 1000
MIN_COOLDOWN = 60
MAX_COOLDOWN = 90 * 86_400
MIN_CLAIM_PERIOD = 60
MAX_CLAIM_PERIOD = 365 * 86_400
MAX_INACTIVITY_ROUNDS = 1000
MAX_INACTIVITY_LEAK_BPS = 1000
MAX_COMMITTEE = 128
MAX_SUPPLY = 10**36
MAX_METRIC_BPS = 10_000
MAX_STOP_ROUNDS = 1_000_000


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
    late_vote_grace: int = 15  # seconds a finalized round stays current for late voters
    claim_period: int = 86_400  # seconds after the vote deadline rewards can be claimed
    inactivity_rounds: int = 5  # settled rounds missed before anyone may report a staker
    inactivity_leak_bps: int = 100  # share of a reported staker's stake to the treasury
    # K participants drawn per round, stake-weighted (docs/committee.md); 0 or K at least
    # the active count: everyone active takes part
    committee_size: int = 0
    # The stop rule (0 turns each off): the deployment finishes when a round finalizes with
    # an agreed validation metric >= target_metric_bps, after `patience` finalized rounds
    # without a better one, or with its `max_rounds`-th finalized round.
    target_metric_bps: int = 0
    patience: int = 0
    max_rounds: int = 0
    treasury: int = 100_000 * TOKEN  # moved from the deployer's supply into the treasury
    supply: int = 10_000_000 * TOKEN  # the token's whole supply, minted once to the deployer

    def as_tuple(self) -> tuple[int, ...]:
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
            self.late_vote_grace,
            self.claim_period,
            self.inactivity_rounds,
            self.inactivity_leak_bps,
            self.committee_size,
            self.target_metric_bps,
            self.patience,
            self.max_rounds,
        )

    def problems(self) -> list[str]:
        """What the coordinator's constructor would reject, as `--flag: reason` lines."""
        bounds = [
            ("--min-stake", self.min_stake, 1, MAX_MIN_STAKE, "token units"),
            ("--commit-window", self.commit_window, MIN_WINDOW, MAX_WINDOW, "seconds"),
            ("--vote-window", self.vote_window, MIN_WINDOW, MAX_WINDOW, "seconds"),
            ("reward per round", self.reward_per_round, 0, MAX_REWARD, "token units"),
            ("voter share", self.voter_share_bps, 0, MAX_VOTER_SHARE_BPS, "basis points"),
            ("--slash", self.slash_bps, 0, MAX_SLASH_BPS, "basis points"),
            ("--min-participants", self.min_participants, 1, MAX_MIN_PARTICIPANTS, ""),
            ("--unstake-cooldown", self.unstake_cooldown, MIN_COOLDOWN, MAX_COOLDOWN, "seconds"),
            ("--late-vote-grace", self.late_vote_grace, 0, MAX_WINDOW, "seconds"),
            ("--claim-period", self.claim_period, MIN_CLAIM_PERIOD, MAX_CLAIM_PERIOD, "seconds"),
            ("--inactivity-rounds", self.inactivity_rounds, 1, MAX_INACTIVITY_ROUNDS, ""),
            (
                "--inactivity-leak",
                self.inactivity_leak_bps,
                0,
                MAX_INACTIVITY_LEAK_BPS,
                "basis points",
            ),
            ("--committee-size", self.committee_size, 0, MAX_COMMITTEE, "participants"),
            ("--target-accuracy", self.target_metric_bps, 0, MAX_METRIC_BPS, "basis points"),
            ("--patience", self.patience, 0, MAX_STOP_ROUNDS, "rounds"),
            ("--max-rounds", self.max_rounds, 0, MAX_STOP_ROUNDS, "rounds"),
            ("--treasury", self.treasury, 0, MAX_REWARD * 10**6, "token units"),
            ("--supply", self.supply, 0, MAX_SUPPLY, "token units"),
        ]
        out = [
            f"{name} must be in [{low}, {high}] {unit}".rstrip() + f", got {value}"
            for name, value, low, high, unit in bounds
            if not low <= value <= high
        ]
        if self.treasury > self.supply:
            out.append(
                f"--treasury {self.treasury} is more than the whole --supply {self.supply} "
                "(token units): the treasury is funded from the supply"
            )
        return out


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
    task: str = ""  # how nodes load the task (name or module:function); "" = task_id
    rule: str = ""  # aggregation rule every node runs; "" = each node's configured rule
    byzantine_f: int = 0  # Byzantine updates the rule tolerates
    training: TrainingSpec = field(default_factory=TrainingSpec)  # algorithm, DP settings

    @property
    def task_spec(self) -> str:
        """What ``get_task`` is given to load this deployment's task."""
        return self.task or self.task_id

    def rule_for(self, node_rule: str, node_f: int) -> tuple[str, int]:
        """(rule, f) a node runs: the deployment's when it records one, else the node's."""
        return (self.rule, self.byzantine_f) if self.rule else (node_rule, node_f)

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
            task=str(data.get("task", "")),
            rule=str(data.get("rule", "")),
            byzantine_f=int(data.get("byzantine_f", 0)),
            training=TrainingSpec.from_json(data.get("training")),
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
    *,
    task: str = "",
    rule: str = "",
    byzantine_f: int = 0,
    training: TrainingSpec | None = None,
) -> Deployment:
    """Deploy token (its whole supply to the deployer) + coordinator, fund the treasury
    from the deployer's tokens, write and return the deployment.

    ``task``: how nodes load the task when that differs from ``task_id`` (module:function
    or an entry-point name); ``rule``/``byzantine_f``: the aggregation every node runs;
    ``training``: how every node trains (algorithm, DP), recorded in the deployment file.
    """
    from node.chain.artifacts import load_artifact
    from node.chain.tx import Sender, connect  # web3: only when something is sent

    problems = params.problems()
    if problems:
        raise ChainError("; ".join(problems))
    w3 = connect(rpc_url)
    sender = Sender(w3, deployer_key)
    token_art = load_artifact("FedToken")
    coord_art = load_artifact("FedCoordinator")
    try:
        genesis = cid_to_bytes(genesis_model_cid)
    except ValueError as exc:
        raise ChainError(f"bad genesis model CID: {exc}") from None

    token_addr, _ = sender.deploy(
        "deploy FedToken", token_art, TOKEN_NAME, TOKEN_SYMBOL, sender.address, params.supply
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
        task="" if task == task_id else task,
        rule=rule,
        byzantine_f=byzantine_f,
        training=training or TrainingSpec(),
    )
    deployment.save(out)
    return deployment


def fund_accounts(
    rpc_url: str,
    deployment: Deployment,
    holder_key: str,
    addresses: Sequence[str],
    amount: int,
    *,
    eth: int = 0,
) -> None:
    """Transfer ``amount`` tokens (and send ``eth`` wei, if any) to each address from
    ``holder_key``'s account: the deployer's, which received the whole supply.

    ``ChainError`` before anything is sent when that account holds too few tokens.
    """
    from node.chain.artifacts import load_artifact
    from node.chain.tx import Sender, connect

    w3 = connect(rpc_url)
    sender = Sender(w3, holder_key)
    token = w3.eth.contract(
        address=to_checksum_address(deployment.token), abi=load_artifact("FedToken").abi
    )
    need = amount * len(addresses)
    have = int(sender.call("balanceOf", token.functions.balanceOf(sender.address)))
    if have < need:
        raise ChainError(
            f"cannot fund {len(addresses)} account(s) with {amount / TOKEN:g} FED each: the "
            f"token holder {sender.address} has {have / TOKEN:g} FED of the fixed supply "
            "left (FED cannot be minted; deploy with a larger --supply)"
        )
    for address in addresses:
        checksum = to_checksum_address(address)
        if amount:
            sender.transact(f"transfer to {checksum}", token.functions.transfer(checksum, amount))
        if eth:
            sender.send_value(f"fund {checksum}", checksum, eth)
