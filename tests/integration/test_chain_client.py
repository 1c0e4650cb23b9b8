"""ChainClient against a real anvil devnet and the real contracts (no mocks).

One devnet per module; the tests run in order and build on each other's chain state:
register -> advance -> commit -> vote (finalizes at 2/3) -> claim -> voter reward ->
failed round -> devnet down/up keeps everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import TOKEN, Deployment, DeployParams, deploy, fund_accounts
from node.chain.errors import ChainUnreachable, InsufficientFunds, TransactionRejected
from node.chain.merkle import build_reward_tree
from node.errors import ChainError, FedchainError
from node.types import cid_from_bytes
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

PEERS = [
    "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
    "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
]
STAKE = 10 * TOKEN


def cid(label: str) -> str:
    """A raw-codec CIDv1 of ``label``."""
    return cid_from_bytes(b"\x01\x55\x12\x20" + hashlib.sha256(label.encode()).digest())


@dataclass
class Env:
    data_dir: Path
    port: int
    net: devnet.Devnet
    deployment: Deployment
    deployer: ChainClient
    nodes: list[ChainClient]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("devnet")
    port = free_port()
    net = devnet.up(data_dir, port=port)
    try:
        params = DeployParams(
            min_stake=STAKE,
            commit_window=120,
            vote_window=120,
            reward_per_round=1000 * TOKEN,
            voter_share_bps=2000,
            slash_bps=5000,
            min_participants=3,
            treasury=10_000 * TOKEN,
        )
        deployer_key = net.accounts[0][1]
        deployment = deploy(
            net.rpc_url, deployer_key, cid("genesis"), "mnist", params, data_dir / "d.json"
        )
        keys = [k for _, k in net.accounts[1:4]]
        fund_accounts(
            net.rpc_url, deployment, deployer_key, [a for a, _ in net.accounts[1:4]], 100 * TOKEN
        )
        nodes = [ChainClient(net.rpc_url, deployment, k) for k in keys]
        deployer = ChainClient(net.rpc_url, deployment, deployer_key)
        yield Env(data_dir, port, net, deployment, deployer, nodes)
    finally:
        devnet.down(data_dir)


def test_deployment_file_matches_chain(env: Env) -> None:
    loaded = Deployment.load(env.data_dir / "d.json")
    assert loaded == env.deployment
    assert loaded.chain_id == env.net.chain_id == env.deployer.chain_id
    assert env.deployer.genesis_model_cid() == cid("genesis")
    assert env.deployer.latest_model_cid() == cid("genesis")
    assert env.deployer.treasury() == 10_000 * TOKEN
    assert env.deployer.current_round() == 0


def test_register_three(env: Env) -> None:
    assert env.nodes[0].advance() is False  # nobody registered yet: nothing to do
    assert env.deployer.registry_counts() == (0, 0)
    for i, node in enumerate(env.nodes):
        addrs = [f"/ip4/127.0.0.1/tcp/{4001 + i}"]
        assert node.ensure_registered(STAKE, PEERS[i], addrs) is True
        # (registrations, active stakes): what peer discovery watches
        assert env.deployer.registry_counts() == (i + 1, i + 1)
        assert node.ensure_registered(STAKE, PEERS[i], addrs) is False  # idempotent
    found = env.deployer.participants()
    assert [p.address for p in found] == [n.address for n in env.nodes]
    assert [p.peer_id for p in found] == PEERS
    assert found[1].addrs == ["/ip4/127.0.0.1/tcp/4002"]
    assert all(p.active and p.stake == STAKE for p in found)
    # Peer info refresh goes through updatePeer.
    env.nodes[2].ensure_registered(STAKE, PEERS[2], ["/ip4/127.0.0.1/tcp/5003"])
    assert env.nodes[2].participant() is not None
    assert env.nodes[2].participant().addrs == ["/ip4/127.0.0.1/tcp/5003"]  # type: ignore[union-attr]


def test_advance_opens_round_one_once(env: Env) -> None:
    assert env.nodes[0].advance() is True
    assert env.nodes[1].advance() is False  # already advanced: no revert, no transaction
    assert env.deployer.current_round() == 1
    info = env.deployer.round_info(1)
    assert info.status is RoundStatus.OPEN
    assert info.eligible_count == 3
    assert info.stake_snapshot == 3 * STAKE
    assert info.closed_at == 0
    assert info.commit_deadline == info.opened_at + 120
    assert info.commit_open(env.deployer.chain_time())
    assert env.deployer.stake_at_open(1, env.nodes[0].address) == STAKE
    assert env.deployer.stake_at_open(1) == 0  # the deployer never registered
    assert env.deployer.max_slash() == 16


def test_round_without_committee_and_batched_round_view(env: Env) -> None:
    chain = env.deployer
    info, now = chain.round_view(1)
    assert (info, now) == (chain.round_info(1), chain.chain_time())
    node = env.nodes[0]
    assert node.commit_view(1) == (node.round_info(1), node.stake_info(), node.chain_time())
    assert node.commit_view(1)[1].stake > 0  # the node's own stake, not the deployer's
    # committeeSize 0: everyone active takes part, no CommitteeSelected event, no seed
    assert chain.params().committee_size == 0
    assert chain.committee(1) is None
    assert chain.committee_seed(1) == bytes(32)
    assert all(chain.is_selected(1, n.address) for n in env.nodes)
    assert not chain.is_selected(1)  # the deployer never registered
    chain.set_param("committeeSize", 2)  # the contract's name works as well
    assert chain.pending_params().committee_size == 2
    chain.set_param("committee_size", 0)  # back to everyone for the rounds below
    assert chain.pending_params().committee_size == 0


def test_commit_and_early_close(env: Env) -> None:
    for node in env.nodes:
        receipt = node.commit(1, cid(f"update-{node.address}"))
        assert receipt["gasUsed"] < 60_000
    assert env.deployer.commitments(1) == {n.address: cid(f"update-{n.address}") for n in env.nodes}
    assert env.nodes[0].commitment_cid(1) == cid(f"update-{env.nodes[0].address}")
    assert env.deployer.commitment_cid(1) is None
    info = env.deployer.round_info(1)
    assert info.commit_count == 3
    assert info.closed_at > 0  # everyone committed: the window closed early
    assert info.vote_deadline == info.closed_at + 120
    with pytest.raises(
        TransactionRejected, match=r"commit rejected: CommitWindowClosed\(round=1\)"
    ):
        env.nodes[0].commit(1, cid("again"))


def test_vote_finalizes_at_two_thirds(env: Env) -> None:
    amounts = {n.address: (i + 1) * 100 * TOKEN for i, n in enumerate(env.nodes)}
    tree = build_reward_tree(1, amounts)
    with pytest.raises(ChainError, match=r"metric must be in \[0, 10000\]"):
        env.nodes[0].submit_outcome(1, cid("model-1"), tree.root, [], 10_001)
    env.nodes[0].submit_outcome(1, cid("model-1"), tree.root, [], 8000)
    assert env.nodes[0].has_voted(1)
    assert env.deployer.round_info(1).status is RoundStatus.OPEN
    assert env.deployer.finalized_outcome(1) is None
    assert env.deployer.agreed_metric(1) == 0
    env.nodes[1].submit_outcome(1, cid("model-1"), tree.root, [], 9000)
    # the stop rule's agreed metric: the finalizing voters' stake-weighted mean (equal stakes)
    assert env.deployer.agreed_metric(1) == 8500
    assert [v.metric_bps for v in env.deployer.votes(1)] == [8000, 9000]
    assert not env.deployer.finished()  # no stop rule deployed
    assert env.deployer.final_model_cid() is None and env.deployer.deployment_end() is None
    info = env.deployer.round_info(1)
    assert info.status is RoundStatus.FINALIZED
    assert info.vote_opens_at <= info.finalized_at <= env.deployer.chain_time()
    assert info.reward_root == tree.root
    assert info.contributor_pool == 800 * TOKEN and info.voter_pool == 200 * TOKEN
    outcome = env.deployer.finalized_outcome(1)
    assert outcome is not None
    assert outcome.model_cid == cid("model-1")
    assert outcome.reward_root == tree.root
    assert outcome.outcome_id == env.deployer.outcome_id(cid("model-1"), tree.root, [])
    assert env.deployer.latest_model_cid() == cid("model-1")
    assert env.deployer.latest_model_cid_of(1) == cid("model-1")
    # the batched views read what the single reads do
    assert env.deployer.round_base_view(1) == (info, cid("model-1"), info)
    voter = env.nodes[1]
    assert voter.voter_claim_view(1) == (
        info,
        voter.vote_of(1),
        voter.current_round(),
        voter.chain_time(),
    )
    assert voter.voter_claim_view(1)[1][1] > 0  # its vote's weight
    assert env.deployer.voter_claim_view(1)[1] == (bytes(16), 0, False)  # never voted
    with pytest.raises(TransactionRejected, match="AlreadyVoted"):
        env.nodes[0].submit_outcome(1, cid("model-1"), tree.root, [])


def test_claim_with_merkle_proof(env: Env) -> None:
    amounts = {n.address: (i + 1) * 100 * TOKEN for i, n in enumerate(env.nodes)}
    tree = build_reward_tree(1, amounts)
    for node in env.nodes:
        before = node.token_balance()
        node.claim(1, tree.amount(node.address), tree.proof(node.address))
        assert node.token_balance() == before + amounts[node.address]
        assert node.is_claimed(1, node.address)
    claimer = env.nodes[2]
    account = claimer.address
    with pytest.raises(
        TransactionRejected,
        match=rf"claim rejected: AlreadyClaimed\(round=1, account={account}\)",
    ):
        claimer.claim(1, tree.amount(account), tree.proof(account))
    assert env.deployer.round_info(1).contributor_claimed == 600 * TOKEN


def test_wrong_amount_is_rejected_by_the_contract(env: Env) -> None:
    tree = build_reward_tree(1, {env.deployer.address: 5 * TOKEN, env.nodes[0].address: 1})
    with pytest.raises(TransactionRejected, match="InvalidProof"):
        env.deployer.claim(1, 5 * TOKEN, tree.proof(env.deployer.address))


def test_late_winning_vote_and_voter_rewards(env: Env) -> None:
    amounts = {n.address: (i + 1) * 100 * TOKEN for i, n in enumerate(env.nodes)}
    tree = build_reward_tree(1, amounts)
    env.nodes[2].submit_outcome(1, cid("model-1"), tree.root, [])  # after finalization
    with pytest.raises(TransactionRejected, match="VoterRewardLocked"):
        env.nodes[0].claim_voter_reward(1)
    assert env.nodes[0].advance() is True  # round 2 opens; round 1 votes are final
    for node in env.nodes:
        before = node.token_balance()
        node.claim_voter_reward(1)
        assert node.token_balance() == before + 200 * TOKEN // 3


def test_failed_round_then_next(env: Env) -> None:
    info = env.deployer.round_info(2)
    assert info.status is RoundStatus.OPEN
    assert env.nodes[0].advance() is False  # still in progress
    devnet.increase_time(env.net.rpc_url, info.vote_deadline - env.deployer.chain_time())
    assert env.nodes[0].advance() is True
    assert env.deployer.round_info(2).status is RoundStatus.FAILED
    assert env.deployer.current_round() == 3
    assert env.deployer.latest_model_cid() == cid("model-1")


def test_claim_many_across_rounds(env: Env) -> None:
    for node in env.nodes:
        node.commit(3, cid(f"r3-{node.address}"))
    trees = [build_reward_tree(3, {n.address: 7 * TOKEN for n in env.nodes})]
    slash = [env.nodes[2].address]
    env.nodes[0].submit_outcome(3, cid("model-3"), trees[0].root, slash)
    env.nodes[1].submit_outcome(3, cid("model-3"), trees[0].root, slash)
    assert env.deployer.round_info(3).status is RoundStatus.FINALIZED
    slashed = env.deployer.participant(env.nodes[2].address)
    assert slashed is not None and slashed.stake == STAKE // 2 and not slashed.active
    # Not everyone voted: the contract keeps round 3 current for the late-vote grace.
    info = env.deployer.round_info(3)
    grace = env.deployer.params().late_vote_grace
    assert grace == 15 and info.grace_ends_at(grace) == info.finalized_at + grace
    assert env.nodes[0].advance() is False  # GraceActive: no transaction
    node = env.nodes[0]
    before = node.token_balance()
    node.claim_many([3], [7 * TOKEN], [trees[0].proof(node.address)])
    assert node.token_balance() == before + 7 * TOKEN


def test_state_survives_devnet_restart(env: Env) -> None:
    snapshot = (
        env.deployer.current_round(),
        env.deployer.latest_model_cid(),
        env.deployer.round_info(1),
        env.deployer.commitments(1),
        env.nodes[0].token_balance(),
    )
    block = env.deployer.block_number()
    assert devnet.down(env.data_dir) is True
    assert not devnet.status(env.data_dir).running
    with pytest.raises(ChainUnreachable, match="is the devnet up"):
        env.deployer.current_round()
    devnet.up(env.data_dir, port=env.port)
    assert devnet.status(env.data_dir).running
    assert env.deployer.block_number() >= block
    assert (
        env.deployer.current_round(),
        env.deployer.latest_model_cid(),
        env.deployer.round_info(1),
        env.deployer.commitments(1),
        env.nodes[0].token_balance(),
    ) == snapshot
    assert env.nodes[0].is_claimed(1, env.nodes[0].address)
    # The restarted chain still takes transactions: the slashed node tops up, which
    # reactivates it, and with three active participants round 4 opens.
    assert env.nodes[0].advance() is False
    env.nodes[2].stake(STAKE)
    # Round 3's late-vote grace (anvil may restart with its clock behind the last blocks).
    grace_end = env.deployer.round_info(3).grace_ends_at(env.deployer.params().late_vote_grace)
    devnet.increase_time(env.net.rpc_url, max(1, grace_end - env.deployer.chain_time()))
    assert env.nodes[0].advance() is True
    assert env.deployer.current_round() == 4


def test_staged_params_and_inactivity_report(env: Env) -> None:
    owner, reporter, idle = env.deployer, env.nodes[1], env.nodes[0]
    assert owner.params().inactivity_rounds == 5
    owner.set_param("inactivity_rounds", 1)
    owner.set_param("patience", 40)  # the stop rule's three parameters share one setter
    owner.set_param("maxRounds", 50)
    pending = owner.pending_params()
    assert (pending.target_metric_bps, pending.patience, pending.max_rounds) == (0, 40, 50)
    assert owner.params().max_rounds == 0
    assert owner.params().inactivity_rounds == 5  # staged until the next round opens
    assert owner.pending_params().inactivity_rounds == 1
    assert owner.missed_rounds_of([n.address for n in env.nodes]) == dict.fromkeys(
        [n.address for n in env.nodes], 0
    )
    info = owner.round_info(4)  # nobody votes in round 4: it fails
    devnet.increase_time(env.net.rpc_url, info.vote_deadline - owner.chain_time())
    assert reporter.advance() is True
    assert owner.params().inactivity_rounds == 1  # applied by round 5's opening
    assert (owner.params().patience, owner.params().max_rounds) == (40, 50)
    assert owner.missed_rounds(idle.address) == 1
    stake = idle.stake_info().stake
    reporter.report_inactive(idle.address)
    after = idle.stake_info()
    assert not after.active and after.stake == stake - stake // 100  # the 1% leak
    with pytest.raises(TransactionRejected, match=r"NotInactive\(account=0x"):
        reporter.report_inactive(idle.address)  # already reported: nothing to do
    names = [
        e.name for e in owner.round_events(owner.deployment.deploy_block, owner.block_number())
    ]
    assert {"ParamsApplied", "ReportedInactive", "RoundFailed"} <= set(names)


def test_sweep_after_the_claim_period(env: Env) -> None:
    node = env.nodes[1]
    deadline = node.claim_deadline(1)
    assert deadline == node.round_info(1).vote_deadline + 86_400
    with pytest.raises(TransactionRejected, match="ClaimPeriodActive"):
        node.sweep(1)
    later = node.claim_deadline(3)  # round 3 is still claimable at round 1's deadline
    assert later > deadline
    devnet.increase_time(env.net.rpc_url, later - node.chain_time())
    tree = build_reward_tree(3, {n.address: 7 * TOKEN for n in env.nodes})
    with pytest.raises(TransactionRejected, match="ClaimPeriodOver"):
        node.claim(3, 7 * TOKEN, tree.proof(node.address))
    before = node.treasury()
    info = node.round_info(1)
    left = info.contributor_pool - info.contributor_claimed + info.voter_pool - info.voter_claimed
    assert left >= 200 * TOKEN  # round 1's unpaid contributor share, plus rounding dust
    node.sweep(1)
    assert node.treasury() == before + left
    with pytest.raises(TransactionRejected, match="NothingToSweep"):
        node.sweep(1)
    swept = [e for e in node.round_events(0, node.block_number()) if e.name == "Swept"]
    assert [(e.round, e.args["contributorAmount"] + e.args["voterAmount"]) for e in swept] == [
        (1, left)
    ]


def test_operator_sweep_takes_every_ended_round(
    env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from node.operator.rewards import sweep_rounds

    monkeypatch.setenv("FEDCHAIN_CACHE_DIR", str(tmp_path))
    info = env.deployer.round_info(3)
    left = info.contributor_pool - info.contributor_claimed + info.voter_pool - info.voter_claimed
    result = sweep_rounds(env.deployer)  # round 1 was swept; round 3's claims ended too
    assert result["swept"] == [{"round": 3, "amount": left}]
    again = sweep_rounds(env.deployer, [3])
    assert (again["swept"], again["notes"]) == (
        [],
        ["round 3: nothing left (all claimed, or swept)"],
    )
    with pytest.raises(FedchainError, match="does not exist yet"):
        sweep_rounds(env.deployer, [99])


def test_unfunded_account_gets_a_clear_error(env: Env) -> None:
    fresh = Account.create()
    client = ChainClient(env.net.rpc_url, env.deployment, fresh.key.hex())
    with pytest.raises(InsufficientFunds, match="holds 0 token units"):
        client.ensure_registered(STAKE, PEERS[0], [])
    fund_accounts(env.net.rpc_url, env.deployment, env.net.accounts[0][1], [fresh.address], STAKE)
    with pytest.raises(InsufficientFunds, match="cannot pay for gas"):
        client.ensure_registered(STAKE, PEERS[0], [])
