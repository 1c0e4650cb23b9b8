"""Round-keyed log reads scan from the block their round opened in, not from the
deployment's, and still read what a scan of the whole chain reads, also after the chain
moved back (anvil's ``evm_revert``: the blocks a round opened in replaced by others).
Real anvil, real contracts; the JSON-RPC requests are recorded on their way out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import TOKEN, Deployment, DeployParams, deploy, fund_accounts
from node.chain.raw_rpc import RawRpc
from node.types import cid_from_bytes
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

STAKE = 10 * TOKEN
PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def cid(label: str) -> str:
    return cid_from_bytes(b"\x01\x55\x12\x20" + hashlib.sha256(label.encode()).digest())


class Recorded:
    """The ``eth_getLogs`` ranges a client's quick reads ask for."""

    def __init__(self, client: ChainClient) -> None:
        self.from_blocks: list[int] = []
        rpc = client._quick._rpc
        assert rpc is not None
        send = rpc.batch

        def batch(requests: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
            for method, params in requests:
                if method == "eth_getLogs":
                    self.from_blocks.append(int(params[0]["fromBlock"], 16))
            return send(requests)

        rpc.batch = batch  # type: ignore[method-assign]


def full_scan(client: ChainClient, event: str, r: int) -> list[tuple[int, int]]:
    """(block, log index) of round ``r``'s ``event`` logs, read from the deployment's block
    through web3."""
    logs = client._coord.events[event].get_logs(
        argument_filters={"round": r}, from_block=client.deployment.deploy_block
    )
    return [(int(e["blockNumber"]), int(e["logIndex"])) for e in logs]


def opened_block(client: ChainClient, r: int) -> int:
    logs = client._coord.events.RoundOpened.get_logs(
        argument_filters={"round": r}, from_block=client.deployment.deploy_block
    )
    assert len(logs) == 1
    return int(logs[0]["blockNumber"])


@pytest.fixture
def chain(
    tmp_path: Any,
) -> Iterator[tuple[str, Deployment, list[ChainClient], RawRpc, str]]:
    port = free_port()
    net = devnet.up(tmp_path, port=port)
    try:
        params = DeployParams(
            min_stake=STAKE,
            commit_window=120,
            vote_window=120,
            reward_per_round=10 * TOKEN,
            voter_share_bps=2000,
            slash_bps=5000,
            min_participants=3,
            treasury=1000 * TOKEN,
        )
        key = net.accounts[0][1]
        deployment = deploy(net.rpc_url, key, cid("genesis"), "mnist", params, tmp_path / "d.json")
        fund_accounts(net.rpc_url, deployment, key, [a for a, _ in net.accounts[1:4]], 100 * TOKEN)
        nodes = [ChainClient(net.rpc_url, deployment, k) for _, k in net.accounts[1:4]]
        for i, node in enumerate(nodes):
            node.ensure_registered(STAKE, PEER, [f"/ip4/127.0.0.1/tcp/{4001 + i}"])
        yield net.rpc_url, deployment, nodes, RawRpc(net.rpc_url), key
    finally:
        devnet.down(tmp_path)


def test_round_reads_scan_from_the_opening_block_and_survive_a_rewind(chain: Any) -> None:
    rpc_url, deployment, nodes, rpc, key = chain
    rpc.call("anvil_mine", [hex(300)])  # history before round 1
    assert nodes[0].advance() is True
    for node in nodes[:2]:
        node.commit(1, cid(f"r1-{node.address}"))
    reader = ChainClient(rpc_url, deployment, key)  # the deployer's account
    seen = Recorded(reader)
    expected = {n.address: cid(f"r1-{n.address}") for n in nodes[:2]}
    assert reader.commitments(1) == expected
    # first read: the opening block looked up with the logs, from the deployment's block
    assert seen.from_blocks == [deployment.deploy_block] * 2
    open1 = opened_block(reader, 1)
    assert open1 > deployment.deploy_block + 300
    seen.from_blocks.clear()
    assert reader.commitments(1) == expected
    assert reader.commitment_cid(1, nodes[0].address) == expected[nodes[0].address]
    assert reader.committee(1) is None  # not sampled
    assert reader.finalized_outcome(1) is None
    assert seen.from_blocks == [open1] * 3  # every later read of round 1: from its block
    assert len(reader.commitments(1)) == len(full_scan(reader, "Committed", 1))

    # Round 1 fails, round 2 opens 200 blocks later and gets one commit; the reader learns
    # round 2's opening block from round 1's (a short scan).
    snapshot = rpc.call("evm_snapshot", [])
    info = reader.round_info(1)
    devnet.increase_time(rpc_url, max(1, info.vote_deadline - reader.chain_time() + 1))
    rpc.call("anvil_mine", [hex(200)])
    assert nodes[0].advance() is True
    nodes[1].commit(2, cid("r2-first"))
    seen.from_blocks.clear()
    assert reader.commitments(2) == {nodes[1].address: cid("r2-first")}
    assert seen.from_blocks == [open1, open1]
    open2 = opened_block(reader, 2)
    seen.from_blocks.clear()
    assert reader.commitments(2) == {nodes[1].address: cid("r2-first")}
    assert seen.from_blocks == [open2]

    # The chain moves back to before round 2: round 2 opens again at once (well before the
    # block it opened in before) and gets another commit, then blocks past that one are
    # mined. Read from the remembered block, the commit would be missed.
    assert rpc.call("evm_revert", [snapshot]) is True
    devnet.increase_time(rpc_url, max(1, info.vote_deadline - reader.chain_time() + 1))
    assert nodes[0].advance() is True
    nodes[2].commit(2, cid("r2-again"))
    rpc.call("anvil_mine", [hex(400)])
    reopened = opened_block(reader, 2)
    assert reopened < open2 < reader.block_number()
    assert reader.commitments(2) == {nodes[2].address: cid("r2-again")}
    assert len(full_scan(reader, "Committed", 2)) == 1
    seen.from_blocks.clear()
    assert reader.commitments(2) == {nodes[2].address: cid("r2-again")}
    assert seen.from_blocks == [reopened]
    assert reader.commitments(1) == expected  # round 1 is older than the rewind: same block
