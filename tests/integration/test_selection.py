"""Per-round committees on a real anvil with the real coordinator (issue 13).

Two deployments on one devnet, five registered accounts each with stakes 10..50 FED:
committee size K = 2 (round 1 draws two of five, stake-weighted) and K = 0 (everyone).
The committee read from the ``CommitteeSelected`` event must equal what
``draw_committee`` replays from the seed and the registry, and what another client (as
another node would) reads; only members may commit and vote; two members' votes (all the
selected stake) finalize the round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import TOKEN, DeployParams, deploy, fund_accounts
from node.chain.errors import TransactionRejected
from node.chain.merkle import build_reward_tree
from node.committee import draw_committee
from node.types import cid_from_bytes
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
ACCOUNTS = 5
K = 2


def cid(label: str) -> str:
    """A raw-codec CIDv1 of ``label``."""
    return cid_from_bytes(b"\x01\x55\x12\x20" + hashlib.sha256(label.encode()).digest())


@dataclass
class Deployed:
    nodes: list[ChainClient]  # one client per registered account, in registration order
    other: list[ChainClient]  # the same accounts through a second set of clients

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]


def _deploy(net: devnet.Devnet, out: Path, committee_size: int) -> Deployed:
    params = DeployParams(
        min_stake=10 * TOKEN,
        commit_window=600,
        vote_window=600,
        reward_per_round=1000 * TOKEN,
        min_participants=ACCOUNTS,
        treasury=10_000 * TOKEN,
        committee_size=committee_size,
    )
    deployer_key = net.accounts[0][1]
    deployment = deploy(net.rpc_url, deployer_key, cid("genesis"), "selection", params, out)
    accounts = net.accounts[1 : ACCOUNTS + 1]
    fund_accounts(net.rpc_url, deployment, deployer_key, [a for a, _ in accounts], 100 * TOKEN)
    nodes = [ChainClient(net.rpc_url, deployment, key) for _, key in accounts]
    for i, node in enumerate(nodes):
        node.ensure_registered((10 + 10 * i) * TOKEN, PEER, [f"/ip4/127.0.0.1/tcp/{4001 + i}"])
    other = [ChainClient(net.rpc_url, deployment, key) for _, key in accounts]
    return Deployed(nodes, other)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    data_dir = tmp_path_factory.mktemp("devnet")
    running = devnet.up(data_dir, port=free_port(), accounts=ACCOUNTS + 1)
    try:
        yield running
    finally:
        devnet.down(data_dir)


@pytest.fixture(scope="module")
def sampled(net: devnet.Devnet, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    deployed = _deploy(net, tmp_path_factory.mktemp("k2") / "d.json", K)
    assert deployed.nodes[0].advance()
    return deployed


def test_committee_is_the_draw_replayed_from_chain_data(sampled: Deployed) -> None:
    chain = sampled.nodes[0]
    info = chain.round_info(1)
    assert info.status is RoundStatus.OPEN
    committee = chain.committee(1)
    assert committee is not None and len(committee) == K
    assert len(set(committee)) == K
    seed = chain.committee_seed(1)
    assert len(seed) == 32 and seed != bytes(32)
    registry = chain.participants()
    assert [p.address for p in registry] == sampled.addresses
    weights = [p.stake if p.active else 0 for p in registry]
    assert weights == [(10 + 10 * i) * TOKEN for i in range(ACCOUNTS)]
    replayed = [registry[i].address for i in draw_committee(seed, weights, K)]
    assert committee == replayed
    # every node reads the same committee and seed (another client, another account)
    for other in sampled.other:
        assert other.committee(1) == committee
        assert other.committee_seed(1) == seed
    assert info.eligible_count == K
    assert info.stake_snapshot == sum(chain.stake_at_open(1, a) for a in committee)
    assert info.stake_snapshot == sum(weights[sampled.addresses.index(a)] for a in committee)


def test_is_selected_exactly_for_members(sampled: Deployed) -> None:
    committee = sampled.nodes[0].committee(1)
    assert committee is not None
    for node, other in zip(sampled.nodes, sampled.other, strict=True):
        member = node.address in committee
        assert node.is_selected(1) is member
        assert other.is_selected(1, node.address) is member


def test_only_members_commit_and_vote_and_their_stake_finalizes(sampled: Deployed) -> None:
    committee = sampled.nodes[0].committee(1)
    assert committee is not None
    members = [n for n in sampled.nodes if n.address in committee]
    outsiders = [n for n in sampled.nodes if n.address not in committee]
    assert len(members) == K and len(outsiders) == ACCOUNTS - K
    for node in outsiders:
        with pytest.raises(TransactionRejected, match=r"commit rejected: NotSelected\(round=1"):
            node.commit(1, cid(f"update-{node.address}"))
    for node in members:
        node.commit(1, cid(f"update-{node.address}"))
    info = members[0].round_info(1)
    assert info.commit_count == K
    assert info.closed_at > 0  # every selected participant committed: closed early
    tree = build_reward_tree(1, {a: TOKEN for a in committee})
    for node in outsiders:
        with pytest.raises(TransactionRejected, match=r"NotSelected\(round=1"):
            node.submit_outcome(1, cid("model-1"), tree.root, [])
    # quorum is 2/3 of the selected stake: the smaller member (under half of it) alone
    # does not finalize; both do, with far less than 2/3 of all stake (at most 90 of 150)
    small, large = sorted(members, key=lambda n: n.stake_at_open(1))
    small.submit_outcome(1, cid("model-1"), tree.root, [])
    assert small.round_info(1).status is RoundStatus.OPEN
    large.submit_outcome(1, cid("model-1"), tree.root, [])
    assert small.round_info(1).status is RoundStatus.FINALIZED
    assert sampled.other[0].latest_model_cid_of(1) == cid("model-1")


def test_committee_size_zero_selects_everyone(
    net: devnet.Devnet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    everyone = _deploy(net, tmp_path_factory.mktemp("k0") / "d.json", 0)
    chain = everyone.nodes[0]
    assert chain.advance()
    info = chain.round_info(1)
    assert info.status is RoundStatus.OPEN
    assert chain.committee(1) is None  # no CommitteeSelected event
    assert chain.committee_seed(1) == bytes(32)
    assert info.eligible_count == ACCOUNTS
    assert info.stake_snapshot == sum((10 + 10 * i) * TOKEN for i in range(ACCOUNTS))
    for node in everyone.other:
        assert chain.is_selected(1, node.address)
        assert node.is_selected(1)
