"""Compressed updates on real nodes: 3 node processes, codec topk-int8-p100, 2 rounds.

Real anvil, real libp2p + Bitswap (digits task). Every node sends the top 10 % of each
tensor as int8 codes with error feedback (its residual in its data directory) and every
node decodes every update exactly, verifies it and aggregates the same bytes: one model
CID per round on every node and on chain. The blobs are the compressed ones (the
deployment's codec in their header) and far smaller than a dense update.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.operator.deploy import DeployRequest
from node.operator.devnet import deployment_path, devnet_up
from tests.integration.chain_faults import TOKEN, records
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES, ROUNDS = 3, 2
CODEC = "topk-int8-p100"
DIGITS_MLP = 64 * 64 + 64 + 64 * 10 + 10  # parameters of digits-mlp
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


def blob_of(node: NodeProcess, cid: str) -> bytes:
    import trio

    from node.store.blobs import read_blob
    from node.store.blockstore import BlockStore
    from node.store.cid import parse_cid_str

    data = trio.run(read_blob, BlockStore(node.data_dir / "blocks"), parse_cid_str(cid), 1 << 24)
    assert data is not None, f"{cid} not in node {node.index}'s blockstore"
    return bytes(data)


def test_compressed_updates_verify_and_aggregate_alike(tmp_path: Path) -> None:
    from rich.console import Console

    from node.update import feedback
    from node.update.codec import decode_update

    opts = DemoOptions(nodes=NODES, rounds=ROUNDS, task="digits-mlp", data_root=tmp_path)
    params = DeployParams(commit_window=30, vote_window=30, min_participants=NODES)
    request = DeployRequest(task=opts.task, update_codec=CODEC)
    nodes: list[NodeProcess] = []
    try:
        net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                    params=params, request=request)  # fmt: skip
        keys = net.accounts[1 : NODES + 1]
        fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys],
                      1000 * TOKEN)  # fmt: skip
        for index, (address, config) in enumerate(
            prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
        ):
            nodes.append(start_node(index, address, config.parent, config))
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        deadline = time.monotonic() + TIMEOUT
        while chain.round_info(ROUNDS).status is not RoundStatus.FINALIZED or not all_done(
            nodes, ROUNDS
        ):
            for node in nodes:
                assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
            assert time.monotonic() < deadline, f"timed out waiting for round {ROUNDS}"
            time.sleep(0.2)
        rounds = range(1, ROUNDS + 1)
        outcomes = {r: chain.finalized_outcome(r) for r in rounds}
        commits = {r: chain.commitments(r) for r in rounds}
        mine = {n.index: records(n) for n in nodes}
        blobs = {(r, a): blob_of(nodes[0], cid) for r in rounds for a, cid in commits[r].items()}
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)

    assert deployment.training.update_codec == CODEC
    for r in rounds:
        outcome = outcomes[r]
        assert outcome is not None, f"round {r} did not finalize"
        assert set(commits[r]) == {n.address for n in nodes}
        for node in nodes:
            record = mine[node.index][r]
            assert record["rejected"] == {}, (r, node.index, record["rejected"])
            assert record["model_cid"] == outcome.model_cid, (r, node.index)
            assert record["finalized_cid"] == outcome.model_cid, (r, node.index)
    for (r, author), blob in blobs.items():
        header, delta = decode_update(blob, CODEC)
        assert (header.round, header.author, header.codec) == (r, author, CODEC)
        assert len(blob) * 8 < 4 * DIGITS_MLP  # the dense body alone is 4 bytes a parameter
        assert sum(int((v != 0).sum()) for v in delta.values()) <= DIGITS_MLP // 10 + 4
    for node in nodes:  # the residual each kept after its last update
        saved = feedback.load(node.data_dir)
        assert saved is not None and saved.round == ROUNDS
        assert any(v.any() for v in saved.after.values())
