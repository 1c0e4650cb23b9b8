"""20 sybils at the minimum stake against 4 honest nodes: every round still finalizes.

Real anvil, 4 real honest node processes (digits task) and one sybil swarm process
(tests/integration/sybil_swarm.py): one libp2p host serving 20 accounts' updates, each
fetchable and each failing verification. The contract slashes at most ``MAX_SLASH`` (16)
addresses per outcome, so the honest nodes slash 16 sybils in round 1 and the other 4 in
round 2; half the minimum stake is below the minimum, so every slashed sybil is
deactivated and round 3 runs with the honest nodes alone. Before the node capped its
slash list, every honest vote reverted (``SlashListTooLong``) and every round failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.learning.local import genesis_params, shapes_of
from node.learning.tasks import get_task
from node.operator.devnet import deployment_path, devnet_up
from tests.integration.chain_faults import TOKEN, records
from tests.integration.ports import free_port
from tests.integration.sybil_swarm import KINDS, Swarm, SwarmThread, kind_of

pytestmark = pytest.mark.integration

HONEST = 4
SYBILS = 20
ROUNDS = 3  # 16 slashed, 4 slashed, then the honest nodes alone
MIN_STAKE = 5 * TOKEN  # honest nodes stake 100 FED each: 400 of 500 at round 1 (80 %)
MAX_SLASH = 16
TIMEOUT = 240  # seconds; a guard against hangs, not a performance assertion


def wait_for(
    done: Callable[[], bool], what: str, nodes: list[NodeProcess], swarm: SwarmThread
) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        for node in nodes:
            assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
        assert swarm.running(), swarm.describe()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def vote_lines(node: NodeProcess) -> str:
    """What a node logged about its votes (why one was not counted)."""
    lines = node.log_path.read_text().splitlines()
    return "\n".join(line for line in lines if "vote" in line)


def settled(chain: ChainClient, r: int) -> bool:
    return chain.round_info(r).status in (RoundStatus.FINALIZED, RoundStatus.FAILED)


def priority(r: int, address: str) -> bytes:
    """The node's tie-break among equal stakes: keccak256(abi.encode(round, address))."""
    return keccak(encode(["uint256", "address"], [r, address]))


def test_sybils_are_slashed_and_every_round_finalizes(tmp_path: Path) -> None:
    from rich.console import Console

    opts = DemoOptions(nodes=HONEST, rounds=ROUNDS, task="digits-mlp", data_root=tmp_path,
                       epochs=1)  # fmt: skip
    # round 1 waits for everyone (sybils included); lowered once it opened
    # sybils never vote, so a finalized round waits out the whole late-vote grace: 2 s
    params = DeployParams(min_stake=MIN_STAKE, commit_window=20, vote_window=20,
                          min_participants=HONEST + SYBILS, late_vote_grace=2)  # fmt: skip
    nodes: list[NodeProcess] = []
    swarm: SwarmThread | None = None
    try:  # from here: a deployment that fails leaves no anvil behind
        net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                    opts.task, params, accounts=1 + HONEST + SYBILS)  # fmt: skip
        deployer = net.accounts[0][1]
        honest_keys = net.accounts[1 : 1 + HONEST]
        sybil_keys = net.accounts[1 + HONEST : 1 + HONEST + SYBILS]
        path = deployment_path(opts.devnet_dir)
        fund_accounts(net.rpc_url, deployment, deployer, [a for a, _ in honest_keys], 1000 * TOKEN)
        for index, (address, config) in enumerate(prepare_nodes(opts, path, honest_keys)):
            nodes.append(start_node(index, address, config.parent, config))
        # while the nodes load: round 1 opens only once all 24 are active (min_participants)
        fund_accounts(net.rpc_url, deployment, deployer, [a for a, _ in sybil_keys], MIN_STAKE)
        shapes = shapes_of(genesis_params(get_task(opts.task)))
        sybil_swarm = Swarm(deployment, net.rpc_url, [k for _, k in sybil_keys], MIN_STAKE, shapes)
        swarm = SwarmThread(sybil_swarm, tmp_path / "swarm").start()
        swarm.wait_ready(TIMEOUT)
        chain = ChainClient(net.rpc_url, deployment, deployer)
        wait_for(lambda: chain.current_round() >= 1, "round 1 to open", nodes, swarm)
        chain.set_param("min_participants", HONEST)
        for r in range(1, ROUNDS + 1):
            wait_for(partial(settled, chain, r), f"round {r} to settle", nodes, swarm)
            status = chain.round_info(r).status
            votes = "\n".join(vote_lines(n) for n in nodes)
            assert status is RoundStatus.FINALIZED, f"round {r} {status.name}:\n{votes}"
        wait_for(lambda: all_done(nodes, ROUNDS), f"{ROUNDS} rounds recorded", nodes, swarm)
        sybils: list[str] = [to_checksum_address(a) for a, _ in sybil_keys]
        honest = [n.address for n in nodes]
        commitments = {r: chain.commitments(r) for r in range(1, ROUNDS + 1)}
        slashes = {r: chain.slashes(r) for r in range(1, ROUNDS + 1)}
        stakes = {a: chain.stake_info(a) for a in sybils + honest}
        outcomes = {r: chain.finalized_outcome(r) for r in range(1, ROUNDS + 1)}
        mine = [records(n) for n in nodes]
        voted = {(r, a): chain.has_voted(r, a) for r in range(1, ROUNDS + 1) for a in honest}
        metrics = [n.status().get("metrics", {}) for n in nodes]
    finally:
        stop_all(nodes)
        if swarm is not None:
            swarm.stop()
        devnet.down(opts.devnet_dir)

    # round 1: every sybil committed; the 16 first by the node's priority were slashed
    assert set(commitments[1]) == set(sybils) | set(honest)
    first = sorted(sybils, key=lambda a: priority(1, a))[:MAX_SLASH]
    assert set(slashes[1]) == set(first), slashes[1]
    # round 2: the 4 left (still active) committed again and were slashed
    rest = set(sybils) - set(first)
    assert set(commitments[2]) == rest | set(honest)
    assert set(slashes[2]) == rest, slashes[2]
    # round 3: the honest nodes alone, nobody slashed
    assert set(commitments[3]) == set(honest)
    assert slashes[3] == {}
    for address in sybils:
        assert not stakes[address].active, address
        assert stakes[address].stake == MIN_STAKE // 2, address
    # every honest node voted in every round, and no vote of theirs was refused
    assert all(voted.values()), voted
    for index, counters in enumerate(metrics):
        assert counters.get("votes_rejected_total", 0) == 0, (index, counters)
        assert counters.get("round_errors_total", 0) == 0, (index, counters)
    for address in honest:
        assert all(address not in s for s in slashes.values()), address
        assert stakes[address].active and stakes[address].stake == 100 * TOKEN, address
    # every honest node rejected every sybil's update as invalid, never as unavailable,
    # accepted every honest one, voted the slash list the chain applied, and recorded
    # the chain's model
    for r, outcome in outcomes.items():
        assert outcome is not None, f"round {r} did not finalize"
        for index, by_round in enumerate(mine):
            record = by_round[r]
            assert record["finalized_cid"] == outcome.model_cid, (index, r, record)
            assert record["model_cid"] == outcome.model_cid, (index, r, record)
            assert sorted(record["verified_authors"]) == sorted(honest), (index, r, record)
            expected = {a: KINDS[kind_of(sybils.index(a))] for a in commitments[r] if a in sybils}
            assert record["rejected"] == expected, (index, r, record["rejected"])
            assert set(record["slash"]) == set(slashes[r]), (index, r, record["slash"])
