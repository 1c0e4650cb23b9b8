"""FedProx and FedNova on real nodes: two deployments on one anvil, 2 node processes each.

Real anvil, real libp2p + Bitswap (digits task), 1 round per deployment, both swarms at
once. One deployment trains with FedProx (the proximal term pulls local training towards
the round's base), the other with FedNova, its two nodes doing unequal local work (2
epochs and 1): each update's header carries its author's step count and every node
rescales the updates to the round's effective step count in exact integers before the
rule. In both, every round finalizes and every node computed the chain's model CID.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import DeployParams, deploy, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, prepare_nodes
from node.learning.spec import TrainingSpec
from node.operator.deploy import DeployRequest
from node.operator.devnet import deployment_path, devnet_up
from tests.integration.chain_faults import TOKEN, records, wait_finalized
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES, ROUNDS = 2, 1  # per deployment
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion
PROX_MU = 0.1


def wait_for(swarms: list[tuple[ChainClient, list[NodeProcess]]]) -> None:
    everyone = [n for _, nodes in swarms for n in nodes]
    for chain, _ in swarms:
        wait_finalized(chain, everyone, ROUNDS, TIMEOUT)


def test_fedprox_and_fednova_deployments_finalize_with_every_node_agreeing(
    tmp_path: Path,
) -> None:
    from rich.console import Console

    from node.update.codec import decode_update
    from tests.integration.chain_faults import blob_of

    prox = DemoOptions(nodes=NODES, rounds=ROUNDS, task="digits-mlp", data_root=tmp_path / "p")
    nova = DemoOptions(nodes=NODES, rounds=ROUNDS, task="digits-mlp", data_root=tmp_path / "n")
    params = DeployParams(commit_window=20, vote_window=20, min_participants=NODES,
                          late_vote_grace=1)  # fmt: skip
    request = DeployRequest(task=prox.task, algorithm="fedprox", prox_mu=PROX_MU)
    swarms: list[tuple[ChainClient, list[NodeProcess]]] = []
    try:
        net, prox_deployment = devnet_up(prox.devnet_dir, free_port(), Console(quiet=True),
                                         params=params, request=request)  # fmt: skip
        owner = net.accounts[0][1]
        nova.devnet_dir.mkdir(parents=True)
        nova_deployment = deploy(
            net.rpc_url, owner, prox_deployment.genesis_model_cid, nova.task, params,
            deployment_path(nova.devnet_dir), training=TrainingSpec(algorithm="fednova"),
        )  # fmt: skip
        accounts = iter(net.accounts[1 : 2 * NODES + 1])
        for opts, deployment in ((prox, prox_deployment), (nova, nova_deployment)):
            keys = [next(accounts) for _ in range(NODES)]
            fund_accounts(net.rpc_url, deployment, owner, [a for a, _ in keys], 1000 * TOKEN)
            nodes: list[NodeProcess] = []
            configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
            for index, (address, config) in enumerate(configs):
                if opts is nova and index == 1:  # unequal local work: 1 epoch, not 2
                    text = config.read_text()
                    config.write_text(text.replace(f"epochs = {opts.epochs}\n", "epochs = 1\n"))
                nodes.append(start_node(index, address, config.parent, config))
            swarms.append((ChainClient(net.rpc_url, deployment, owner), nodes))
        wait_for(swarms)
        results = []
        for chain, nodes in swarms:
            rounds = range(1, ROUNDS + 1)
            commits = {r: chain.commitments(r) for r in rounds}
            results.append(
                (
                    chain.deployment,
                    {r: chain.finalized_outcome(r) for r in rounds},
                    commits,
                    {n.index: records(n) for n in nodes},
                    {
                        (r, a): decode_update(blob_of(nodes[0], cid))[0]
                        for r in rounds
                        for a, cid in commits[r].items()
                    },
                )
            )
    finally:
        for _, nodes in swarms:
            stop_all(nodes)
        devnet.down(prox.devnet_dir)

    algorithms = []
    for (_, nodes), (deployment, outcomes, commits, mine, headers) in zip(
        swarms, results, strict=True
    ):
        algorithms.append(deployment.training.algorithm)
        for r, outcome in outcomes.items():
            assert outcome is not None, f"{deployment.training.algorithm}: round {r} failed"
            assert set(commits[r]) == {n.address for n in nodes}, (r, commits[r])
            for node in nodes:
                record = mine[node.index][r]
                assert record["rejected"] == {}, (r, node.index, record)
                assert record["model_cid"] == outcome.model_cid, (r, node.index)
        steps = {a: h.local_steps for (r, a), h in headers.items() if r == 1}
        if deployment.training.algorithm == "fednova":
            # each header carries its author's local steps: node 0 did twice node 1's work
            assert steps[nodes[0].address] > steps[nodes[1].address] > 0, steps
        else:
            assert deployment.training.prox_mu == PROX_MU
            assert set(steps.values()) == {0}, steps  # no step count outside FedNova
    assert algorithms == ["fedprox", "fednova"]
