"""A node that lacks one peer's update never splits the vote (node/abstain.py).

Real anvil, 4 real node processes (digits task), one round, in three cases:

- ``announced``: node 3 runs with ``FEDCHAIN_SLOW_FETCH=<node 0's address>:1``
  (node/fetch.py), a test fault that stands in for a link too slow to bring node 0's
  update from anyone before the shared exchange deadline. Nodes 1 and 2 verify it and
  announce it, so node 3 knows honest nodes hold it (f = 0: one non-author announcer
  suffices) and abstains at once. Before the rule, node 3 voted a model of 3 updates,
  against the quorum's model of 4.
- ``unannounced``: the same slow link, but the deployment's f = 3, so 2 announcers are
  too few for the announcer rule (as when gossip is late or lost under load). Node 3
  defers its vote to 3/4 of the vote window, finds the round finalized with another
  outcome, and abstains.
- ``withheld``: node 3 commits and never serves its update (attack ``withhold``). Every
  other node lacks it, nobody but its author announces it: all defer, see no other
  outcome backed at the defer point, vote the same model, and the round finalizes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from node.abstain import OUTVOTED, REASON
from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.fetch import SLOW_ENV
from node.operator.deploy import DeployRequest
from node.operator.devnet import deployment_path, devnet_up
from tests.integration.chain_faults import TOKEN, records
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES = 4
SLOW, AUTHOR = 3, 0  # node 3 cannot fetch node 0's update
WITHHOLDER = 3  # the withheld case: node 3 withholds its own update
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


def wait_for(chain: ChainClient, nodes: list[NodeProcess]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while chain.round_info(1).status is RoundStatus.OPEN or not all_done(nodes, 1):
        for node in nodes:
            assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
        assert time.monotonic() < deadline, "timed out waiting for round 1"
        time.sleep(0.2)


def run_round(tmp_path: Path, case: str) -> dict[str, Any]:
    """Round 1 of 4 nodes set up for ``case``: what the chain and the nodes show after."""
    from rich.console import Console

    withheld = case == "withheld"
    opts = DemoOptions(nodes=NODES, rounds=1, task="digits-mlp", data_root=tmp_path, epochs=1,
                       byzantine=1 if withheld else 0, attack="withhold")  # fmt: skip
    # nobody votes late: a finalized round waits out the whole late-vote grace (2 s)
    params = DeployParams(commit_window=20, vote_window=24, min_participants=NODES,
                          late_vote_grace=2)  # fmt: skip
    f = 3 if case == "unannounced" else 0
    request = DeployRequest(task=opts.task, byzantine_f=f)
    nodes: list[NodeProcess] = []
    try:
        net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                    opts.task, params, request=request)  # fmt: skip
        keys = net.accounts[1 : NODES + 1]
        fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys],
                      1000 * TOKEN)  # fmt: skip
        configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
        for index, (address, config) in enumerate(configs):
            with config.open("a") as out:  # deadline: half the vote window, not 30 s
                out.write("fetch_timeout = 5\n")
            slow = index == SLOW and not withheld
            env = {SLOW_ENV: f"{configs[AUTHOR][0]}:1"} if slow else None
            nodes.append(start_node(index, address, config.parent, config, env))
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        wait_for(chain, nodes)
        return {
            "nodes": nodes,
            "info": chain.round_info(1),
            "outcome": chain.finalized_outcome(1),
            "votes": {n.index: chain.vote_of(1, n.address) for n in nodes},
            "voted": {n.index: chain.has_voted(1, n.address) for n in nodes},
            "records": {n.index: records(n)[1] for n in nodes},
            "status": {n.index: n.status() for n in nodes},
            "log": nodes[SLOW].log_path.read_text(),
        }
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)


def check_no_split(seen: dict[str, Any], honest: set[int]) -> None:
    """The round finalized; every vote on chain is for the finalized outcome."""
    outcome, info = seen["outcome"], seen["info"]
    assert outcome is not None, f"round 1 {info.status.name}"
    for index, (key, _, _) in seen["votes"].items():
        assert not seen["voted"][index] or key == info.outcome_key, (index, seen["votes"])
    for index in honest:
        assert seen["records"][index]["finalized_cid"] == outcome.model_cid, index


@pytest.mark.parametrize("case", ["announced", "unannounced"])
def test_slow_link_node_abstains_and_the_round_finalizes(tmp_path: Path, case: str) -> None:
    seen = run_round(tmp_path, case)
    nodes, outcome = seen["nodes"], seen["outcome"]
    check_no_split(seen, set(range(NODES)))
    slow = seen["records"][SLOW]
    metrics = seen["status"][SLOW].get("metrics", {})
    # node 3 lacked node 0's update and never voted the model it computed without it
    assert not seen["voted"][SLOW], seen["log"][-3000:]
    assert slow["rejected"] == {nodes[AUTHOR].address: "unavailable"}, slow
    assert slow["model_cid"] != outcome.model_cid  # the model it would have voted
    if case == "announced":
        # announced by node 1 or 2 or both (its author's own announcement does not count;
        # with f = 0 a verifier stays quiet once the author and one other announced)
        assert slow["abstained"]["reason"] == REASON, slow
        assert slow["abstained"]["announcers"].keys() == {nodes[AUTHOR].address}, slow
        assert slow["abstained"]["announcers"][nodes[AUTHOR].address] in (1, 2), slow
        assert "deferred" not in slow, slow
        # none dropped as from an unknown peer (round.know_eligible: all staked just before)
        p2p = seen["status"][SLOW].get("p2p", {})
        assert "gossip.rejected.unregistered" not in p2p, p2p
    else:
        # 2 announcers < f = 3: deferred, then outvoted by the 3 nodes holding all 4
        assert slow["deferred"] is True, slow
        assert slow["abstained"]["reason"] == OUTVOTED, slow
        assert metrics.get("votes_deferred_total") == 1, metrics
    reason = slow["abstained"]["reason"]
    assert metrics.get(f'votes_abstained_total{{reason="{reason}"}}') == 1, metrics
    # the 3 others verified all 4 updates, voted at once and agreed
    for index in set(range(NODES)) - {SLOW}:
        mine = seen["records"][index]
        assert seen["voted"][index], index
        assert mine["verified"] == NODES, mine
        assert mine["model_cid"] == outcome.model_cid, mine
        assert "abstained" not in mine and "deferred" not in mine, mine


def test_nodes_all_lacking_a_withheld_update_defer_and_agree(tmp_path: Path) -> None:
    seen = run_round(tmp_path, "withheld")
    honest = set(range(NODES)) - {WITHHOLDER}
    check_no_split(seen, honest)
    withholder = seen["nodes"][WITHHOLDER].address
    for index in honest:
        mine = seen["records"][index]
        assert mine["rejected"] == {withholder: "unavailable"}, mine
        assert mine["deferred"] is True and "abstained" not in mine, mine
        assert seen["voted"][index], index
        assert mine["model_cid"] == seen["outcome"].model_cid, mine
