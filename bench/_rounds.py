"""Finalized rounds without nodes: three funded accounts drive the real coordinator.

Each round: ``advance``, three commits of made-up CIDs (the window closes early), two
votes for the same outcome (2/3 of the stake: it finalizes), and a third, losing vote that
asks to slash the first account (so every round has a slash list to read back). Every
fifth round the first account also claims its contributor reward and the second its
voter reward of the round before. Transactions are signed here with fixed gas and sent
together per phase (advance, commits, votes, claims), then their receipts are checked;
each round ends with one check that it finalized. Used by bench/cli_latency.py and its test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from node.chain import devnet
from node.chain.artifacts import load_artifact
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import TOKEN, Deployment, DeployParams, deploy, fund_accounts
from node.chain.merkle import RewardTree, build_reward_tree
from node.errors import ChainError
from node.types import cid_from_bytes, cid_to_bytes

PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
STAKE = 10 * TOKEN
GAS = 600_000
GAS_PRICE = 20 * 10**9


def fake_cid(label: str) -> str:
    """A raw-codec CIDv1 of ``label``."""
    return cid_from_bytes(b"\x01\x55\x12\x20" + hashlib.sha256(label.encode()).digest())


class _Signer:
    """Signs and sends one account's transactions with local nonces, fixed gas, no waits."""

    def __init__(self, chain: ChainClient, key: str) -> None:
        self.chain = chain
        self.account = Account.from_key(key)
        self.nonce = chain.w3.eth.get_transaction_count(self.account.address, "pending")

    def send(self, fn: Any) -> bytes:
        tx = fn.build_transaction(
            {
                "from": self.account.address,
                "nonce": self.nonce,
                "gas": GAS,
                "gasPrice": GAS_PRICE,
                "chainId": self.chain.chain_id,
            }
        )
        sent = self.chain.w3.eth.send_raw_transaction(
            self.account.sign_transaction(tx).raw_transaction
        )
        self.nonce += 1
        return bytes(sent)


def _settle(chain: ChainClient, sent: list[bytes], what: str) -> None:
    """Wait until every transaction of a phase is mined, and check that none reverted
    (anvil may put transactions that arrive together in one block, in any order)."""
    for tx in sent:
        receipt = chain.w3.eth.wait_for_transaction_receipt(tx, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise ChainError(f"{what} reverted (tx 0x{tx.hex()})")


@dataclass
class Driver:
    """A devnet with a deployment and three registered participants."""

    data_dir: Path
    net: devnet.Devnet
    deployment_file: Path
    deployment: Deployment
    nodes: list[ChainClient]
    keys: list[str]
    trees: dict[int, RewardTree] = field(default_factory=dict)

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def rounds_done(self) -> int:
        return self.nodes[0].current_round()

    def drive(self, count: int, metric: Callable[[int, int], int] | None = None) -> None:
        """Open and finalize ``count`` more rounds; ``metric(round, voter index)``: the
        evaluation (basis points) each vote carries (default 0)."""
        bps = metric or (lambda r, i: 0)
        coord = self.nodes[0].w3.eth.contract(
            address=to_checksum_address(self.deployment.coordinator),
            abi=load_artifact("FedCoordinator").abi,
        )
        f = coord.functions
        signers = [_Signer(n, key) for n, key in zip(self.nodes, self.keys, strict=True)]
        first = self.rounds_done() + 1
        for r in range(first, first + count):
            chain = self.nodes[0]
            _settle(chain, [signers[0].send(f.advance())], f"advance to round {r}")
            commits = [
                s.send(f.commit(r, cid_to_bytes(fake_cid(f"update-{r}-{s.account.address}"))))
                for s in signers
            ]
            _settle(chain, commits, f"round {r} commits")
            pool = self.deployment.contributor_pool_per_round
            tree = build_reward_tree(r, {a: pool // 3 for a in self.addresses})
            self.trees[r] = tree
            model = cid_to_bytes(fake_cid(f"model-{r}"))
            votes = [
                s.send(f.submitOutcome(r, model, tree.root, [], bps(r, i)))
                for i, s in enumerate(signers[:2])
            ]
            slash = [self.addresses[0]]
            votes.append(signers[2].send(f.submitOutcome(r, model, tree.root, slash, bps(r, 2))))
            _settle(chain, votes, f"round {r} votes")
            if r % 5 == 0:
                a = self.addresses[0]
                claims = [
                    signers[0].send(f.claim(r, tree.amount(a), tree.proof(a))),
                    signers[1].send(f.claimVoterReward(r - 1)),
                ]
                _settle(chain, claims, f"round {r} claims")
            if chain.round_info(r).status is not RoundStatus.FINALIZED:
                raise ChainError(f"driven round {r} did not finalize")

    def stop(self) -> None:
        devnet.down(self.data_dir)


def start(data_dir: Path, port: int, treasury_rounds: int = 1000, **stop_rule: int) -> Driver:
    """Start a devnet in ``data_dir``, deploy, fund and register three participants;
    ``stop_rule``: ``target_metric_bps``, ``patience``, ``max_rounds`` (default: off)."""
    net = devnet.up(data_dir, port=port)
    try:
        reward = TOKEN
        params = DeployParams(
            min_stake=STAKE,
            commit_window=600,
            vote_window=600,
            reward_per_round=reward,
            voter_share_bps=2000,
            slash_bps=5000,
            min_participants=3,
            late_vote_grace=0,  # the losing third vote never joins: open the next round at once
            treasury=reward * treasury_rounds,
            **stop_rule,
        )
        deployer_key = net.accounts[0][1]
        out = data_dir / "deployment.json"
        deployment = deploy(net.rpc_url, deployer_key, fake_cid("genesis"), "bench", params, out)
        accounts = net.accounts[1:4]
        fund_accounts(net.rpc_url, deployment, deployer_key, [a for a, _ in accounts], 100 * TOKEN)
        nodes = [ChainClient(net.rpc_url, deployment, key) for _, key in accounts]
        for i, node in enumerate(nodes):
            node.ensure_registered(STAKE, PEER, [f"/ip4/127.0.0.1/tcp/{4001 + i}"])
    except BaseException:
        devnet.down(data_dir)
        raise
    return Driver(data_dir, net, out, deployment, nodes, [key for _, key in accounts])
