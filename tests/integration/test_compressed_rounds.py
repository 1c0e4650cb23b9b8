"""Compressed updates on real nodes: 3 node processes, codec topk-int8-p100, 2 rounds.

Real anvil, real libp2p + Bitswap (digits task). Every node sends the top 10 % of each
tensor as int8 codes with error feedback (its residual in its data directory) and every
node decodes every update exactly, verifies it and aggregates the same bytes: one model
CID per round on every node and on chain. The blobs are the compressed ones (the
deployment's codec in their header) and far smaller than a dense update.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.operator.deploy import DeployRequest
from tests.integration.chain_faults import blob_of, network, records, wait_finalized

pytestmark = pytest.mark.integration

ROUNDS = 2  # with chain_faults.NODES = 3 nodes
CODEC = "topk-int8-p100"
DIGITS_MLP = 64 * 64 + 64 + 64 * 10 + 10  # parameters of digits-mlp
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


def test_compressed_updates_verify_and_aggregate_alike(tmp_path: Path) -> None:
    from node.update import feedback
    from node.update.codec import decode_update

    request = DeployRequest(task="digits-mlp", update_codec=CODEC)
    with network(tmp_path, ROUNDS, epochs=2, request=request) as net:
        chain, nodes, deployment = net.chain(), net.nodes, net.deployment
        wait_finalized(chain, nodes, ROUNDS, TIMEOUT)
        rounds = range(1, ROUNDS + 1)
        outcomes = {r: chain.finalized_outcome(r) for r in rounds}
        commits = {r: chain.commitments(r) for r in rounds}
        mine = {n.index: records(n) for n in nodes}
        blobs = {(r, a): blob_of(nodes[0], cid) for r in rounds for a, cid in commits[r].items()}

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
