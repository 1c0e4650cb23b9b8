"""Overlapped rounds on real nodes: 3 node processes, deployment staleness 1, 2 rounds.

Real anvil, real libp2p + Bitswap (digits task). Once a node committed round r it trains
round r + 1's update on round r's base while round r is exchanged and voted, and commits
it when round r + 1 opens; every node verifies that round r + 1's updates name round r's
base (the rule of node/staleness.py) and applies their aggregate to round r's finalized
model: one model CID per round on every node and on chain.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.demo.processes import NodeProcess
from node.operator.deploy import DeployRequest
from tests.integration.chain_faults import blob_of, network, records, wait_finalized

pytestmark = pytest.mark.integration

ROUNDS = 2  # with chain_faults.NODES = 3 nodes
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


@pytest.fixture(scope="module")
def overlapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the deployment to its last round; what the chain and the nodes hold after it."""
    from node.update.codec import decode_update

    root = tmp_path_factory.mktemp("overlap")
    request = DeployRequest(task="digits-mlp", staleness=1)
    with network(root, ROUNDS, epochs=2, request=request) as net:
        chain, nodes, deployment = net.chain(), net.nodes, net.deployment
        wait_finalized(chain, nodes, ROUNDS, TIMEOUT)
        rounds = range(1, ROUNDS + 1)
        commits = {r: chain.commitments(r) for r in rounds}
        return {
            "staleness": deployment.training.staleness,
            "genesis": deployment.genesis_model_cid,
            "outcomes": {r: chain.finalized_outcome(r) for r in rounds},
            "commits": commits,
            "records": {n.index: records(n) for n in nodes},
            "metrics": {n.index: metrics_of(n) for n in nodes},
            "headers": {
                (r, a): decode_update(blob_of(nodes[0], cid))[0]
                for r in rounds
                for a, cid in commits[r].items()
            },
            "addresses": {n.address for n in nodes},
        }


def metrics_of(node: NodeProcess) -> dict[str, float]:
    status = json.loads((node.data_dir / "status.json").read_text())
    return dict(status.get("metrics", {}))


def test_every_round_finalizes_with_all_nodes_on_the_same_model(overlapped: dict) -> None:
    assert overlapped["staleness"] == 1
    for r, outcome in overlapped["outcomes"].items():
        assert outcome is not None, f"round {r} did not finalize"
        assert set(overlapped["commits"][r]) == overlapped["addresses"]
        for index, mine in overlapped["records"].items():
            record = mine[r]
            assert record["rejected"] == {}, (r, index, record["rejected"])
            assert record["model_cid"] == outcome.model_cid, (r, index)
            assert record["finalized_cid"] == outcome.model_cid, (r, index)
            assert record["recorded_at"] > 0, (r, index)  # wall clock, for the benches
        # every node evaluated the same model (on a worker thread) and recorded its accuracy
        accuracies = {mine[r]["accuracy"] for mine in overlapped["records"].values()}
        assert len(accuracies) == 1 and None not in accuracies, (r, accuracies)


def test_updates_were_trained_during_the_previous_round(overlapped: dict) -> None:
    outcomes, headers = overlapped["outcomes"], overlapped["headers"]
    # round 2's updates were trained on round 1's base (genesis), not on round 2's base
    # (round 1's model), and applied to round 2's base all the same
    assert outcomes[1].model_cid != overlapped["genesis"]
    for (r, author), header in headers.items():
        assert header.base_cid == overlapped["genesis"], (r, author)
    assert {r for r, _ in headers} == {1, 2}
    ahead = [(i, r) for i, mine in overlapped["records"].items() for r in mine
             if mine[r].get("trained_ahead")]  # fmt: skip
    assert ahead, "no update was trained during the previous round"
    assert all(r >= 2 for _, r in ahead)
    used = sum(m.get("updates_trained_ahead_total", 0) for m in overlapped["metrics"].values())
    assert used >= 1  # the nodes' metric says so too
