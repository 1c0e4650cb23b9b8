"""kill -9 a node at every phase of a round; it restarts from its data directory and the chain.

Real anvil, three real node processes. Node 2 is SIGKILLed (through the FEDCHAIN_CRASH_AT
crash points, so the kill lands exactly in the phase under test) once per round, at a
different phase each round, and restarted on the same data directory each time.
"""

from __future__ import annotations

import json
import time
from functools import partial

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.faults import ENV, POINTS
from node.operator.devnet import deployment_path, devnet_up
from node.state import NodeState
from tests.integration.chain_faults import wait_for
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
TOKEN = 10**18
CRASHING = 2
ROUNDS = len(POINTS) + 1  # one crash per round, then a clean round


def crash_env(attempt: int) -> dict[str, str]:
    return {ENV: f"{POINTS[attempt]}:{attempt + 1}"} if attempt < len(POINTS) else {}


@pytest.fixture(scope="module")
def crashed_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rich.console import Console

    root = tmp_path_factory.mktemp("crash")
    opts = DemoOptions(nodes=3, rounds=ROUNDS, task="digits-mlp", data_root=root, epochs=1)
    params = DeployParams(commit_window=60, vote_window=60, min_participants=3)
    net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True), opts.task,
                                params)  # fmt: skip
    keys = net.accounts[1:4]
    fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys], 1000 * TOKEN)
    configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
    nodes: list[NodeProcess] = []
    kills = 0
    try:
        for index, (address, config) in enumerate(configs):
            env = crash_env(0) if index == CRASHING else None
            nodes.append(start_node(index, address, config.parent, config, env))
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not all_done(nodes, ROUNDS):
            crashing = nodes[CRASHING]
            if not crashing.running():
                assert crashing.process.returncode == -9, crashing.log_tail(20)
                kills += 1
                address, config = configs[CRASHING]
                nodes[CRASHING] = start_node(CRASHING, address, config.parent, config,
                                             crash_env(kills))  # fmt: skip
            time.sleep(0.5)
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        yield chain, nodes, kills
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)


def records(node: NodeProcess) -> dict[int, dict]:
    state = NodeState(node.data_dir / "state.sqlite")
    try:
        return {int(r["round"]): r for r in state.records()}
    finally:
        state.close()


def test_node_was_killed_in_every_phase(crashed_run) -> None:  # type: ignore[no-untyped-def]
    _, _, kills = crashed_run
    assert kills == len(POINTS)


def test_every_round_finalized_and_the_restarted_node_agrees(crashed_run) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, _ = crashed_run
    mine = records(nodes[CRASHING])
    for r in range(1, ROUNDS + 1):
        outcome = chain.finalized_outcome(r)
        assert outcome is not None, f"round {r} did not finalize"
        assert r in mine, f"restarted node never recorded round {r}"
        assert mine[r]["finalized_cid"] == outcome.model_cid
        if mine[r]["model_cid"] is not None:
            assert mine[r]["model_cid"] == outcome.model_cid


def test_never_committed_or_voted_twice(crashed_run) -> None:  # type: ignore[no-untyped-def]
    _, nodes, _ = crashed_run
    log = nodes[CRASHING].log_path.read_text()
    assert "AlreadyCommitted" not in log
    assert "AlreadyVoted" not in log
    status = json.loads((nodes[CRASHING].data_dir / "status.json").read_text())
    assert status["metrics"].get("round_errors_total", 0) == 0


def test_restarted_node_committed_served_and_claimed(crashed_run) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, _ = crashed_run
    address = nodes[CRASHING].address
    honest = records(nodes[0])
    committed_rounds = [r for r in range(1, ROUNDS + 1) if chain.commitment_cid(r, address)]
    # killed before committing in round 1 and 2 it restarts in time to commit every round
    assert committed_rounds == list(range(1, ROUNDS + 1))
    for r in committed_rounds:
        # the others fetched its blob by Bitswap after its restart: all 3 updates verified
        assert honest[r]["verified"] == 3, (r, honest[r])
        # claimed beside the next round (node/claims.py ClaimQueue): soon after the record
        claimed = partial(chain.is_claimed, r, address)
        wait_for([], claimed, f"the reward of round {r} claimed after restart", 60)
