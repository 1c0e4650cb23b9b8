"""Differential privacy on real nodes: 3 node processes, distributed DP, 2 rounds.

Real anvil, real libp2p + Bitswap (digits task). Each node clips its update and adds its
share of Gaussian noise from an OS-seeded generator, so nobody can recompute another's
update; every node still verifies every noised update against the bound the deployment
implies and aggregates them to the same bytes (one CID per round on every node and on
chain). Each node's epsilon in its status and metrics is what opacus' RDP accountant gives
for the rounds it published. Node 2's ``dp_epsilon_budget`` lies between one round's
epsilon and two rounds': it publishes in round 1, sits round 2 out (logged, counted), and
round 2 still finalizes with the two other updates.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from node.chain.deploy import DeployParams
from node.demo.report import chain_stop_rule, round_rows
from node.errors import UpdateRejected
from node.operator.deploy import DeployRequest
from node.privacy.bound import dp_norm_bound
from tests.integration.chain_faults import NODES, blob_of, network, records, wait_finalized

pytestmark = pytest.mark.integration

ROUNDS = 2  # with chain_faults.NODES = 3 nodes
CLIP, NOISE, DELTA = 0.5, 1.0, 1e-5
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


def opacus_epsilon(rounds: int) -> float:
    """opacus' own RDP accountant for ``rounds`` full-batch Gaussian mechanisms at NOISE."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(rounds):
        accountant.step(noise_multiplier=NOISE, sample_rate=1.0)
    return float(accountant.get_epsilon(DELTA))


def test_noised_updates_verify_aggregate_alike_and_the_budget_stops_a_node(
    tmp_path: Path,
) -> None:
    from node.update.codec import decode_update
    from node.verify.checks import check_norm

    budget = (opacus_epsilon(1) + opacus_epsilon(2)) / 2  # room for one round, not two
    # round 2 waits out its commit window (node 2 does not commit): keep it short
    params = DeployParams(commit_window=10, vote_window=20, min_participants=NODES,
                          late_vote_grace=1)  # fmt: skip
    request = DeployRequest(task="digits-mlp", dp="distributed", dp_clip=CLIP, dp_noise=NOISE)

    def config_lines(index: int) -> str:
        return "fetch_timeout = 5\n" + (f"dp_epsilon_budget = {budget!r}\n" if index == 2 else "")

    with network(tmp_path, ROUNDS, epochs=2, params=params, request=request,
                 config_lines=config_lines) as net:  # fmt: skip
        chain, nodes, deployment = net.chain(), net.nodes, net.deployment
        wait_finalized(chain, nodes, ROUNDS, TIMEOUT)
        rounds = range(1, ROUNDS + 1)
        outcomes = {r: chain.finalized_outcome(r) for r in rounds}
        commits = {r: chain.commitments(r) for r in rounds}
        mine = {n.index: records(n) for n in nodes}
        statuses = {n.index: n.status() for n in nodes}
        blobs = {(r, a): blob_of(nodes[0], cid) for r in rounds for a, cid in commits[r].items()}
        # report.json's rows: each with the chain's agreed metric, and the stop rule's state
        finalized = {r: o.model_cid if o else None for r, o in outcomes.items()}
        rows = round_rows(ROUNDS, {n.address: statuses[n.index] for n in nodes}, finalized)
        stop_rule = chain_stop_rule(chain, rows)

    assert deployment.training.dp_mode == "distributed"
    limited = nodes[2].address
    # every node verified every committed (noised) update and computed the chain's model
    for r in rounds:
        outcome = outcomes[r]
        assert outcome is not None, f"round {r} did not finalize"
        for node in nodes:
            record = mine[node.index][r]
            assert record["rejected"] == {}, (r, node.index, record["rejected"])
            assert sorted(record["verified_authors"]) == sorted(commits[r]), (r, record)
            assert record["model_cid"] == outcome.model_cid, (r, node.index)
            assert record["finalized_cid"] == outcome.model_cid, (r, node.index)
    log = (nodes[2].data_dir / "node.log").read_text()
    # on a loaded machine node 2's first use of the accountant (opacus' import) can push its
    # round 1 past the commit deadline: then it published (and spent) without committing
    late = "round 1: training finished after the commit deadline" in log
    assert set(commits[1]) == {n.address for n in nodes} - ({limited} if late else set())
    assert set(commits[2]) == {n.address for n in nodes} - {limited}
    # the updates carry noise: norm well past the clip norm, within the verified bound
    bound = dp_norm_bound(deployment.training, 64 * 64 + 64 + 64 * 10 + 10)  # digits-mlp
    for (r, author), blob in blobs.items():
        header, delta = decode_update(blob)
        assert (header.round, header.author) == (r, author)
        check_norm(delta, bound)
        with pytest.raises(UpdateRejected):
            check_norm(delta, 4 * CLIP)  # the clipped delta alone is at most CLIP
    # epsilon per node: status record and metrics, equal to opacus' for the rounds it
    # published (ledger), mode epsilon at z; what peers see of one update at z / sqrt(K)
    published = {0: 2, 1: 2, 2: 1}
    for node in nodes:
        status = statuses[node.index]
        metrics: dict[str, Any] = status.get("metrics", {})
        spent = mine[node.index][ROUNDS]["privacy"]
        n = published[node.index]
        assert spent["rounds"] == n and metrics["dp_rounds"] == n, (node.index, spent)
        assert spent["epsilon"] == pytest.approx(opacus_epsilon(n), rel=1e-9)
        assert metrics["dp_epsilon"] == pytest.approx(opacus_epsilon(n), rel=1e-9)
        assert spent["epsilon_update"] == metrics["dp_epsilon_update"] > spent["epsilon"]
        assert math.isfinite(spent["epsilon_update"])
    # node 2 stopped at its budget: counted, logged, recorded, and not a commit
    metrics = statuses[2]["metrics"]
    assert metrics.get('rounds_sat_out_total{reason="privacy_budget"}') == 1, metrics
    assert mine[2][2]["committed"] is False and mine[2][1]["committed"] is not late
    assert "round 2: privacy budget" in log and "sitting this round out" in log
    for index in (0, 1):
        assert 'rounds_sat_out_total{reason="privacy_budget"}' not in statuses[index]["metrics"]
    # the chain's agreed metric is the evaluation every node sent with its vote (the same
    # model on the same test split); no stop rule in this deployment: still running
    for row in rows:
        voted = {mine[n.index][row["round"]]["metric_bps"] for n in nodes}
        assert {row["agreed_metric_bps"]} == voted, (row, voted)
    assert stop_rule["finalized_rounds"] == ROUNDS and stop_rule["finished"] is False
