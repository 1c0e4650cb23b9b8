"""A node whose link is too slow to fetch one peer's update abstains; it never splits the vote.

Real anvil, 4 real honest node processes (digits task), one round. Node 3 runs with
``FEDCHAIN_SLOW_FETCH=<node 0's address>:1`` (node/fetch.py), a test fault that stands in
for a link too slow to bring node 0's update from anyone before the shared exchange
deadline: node 3 keeps retrying until then and gets nothing. Nodes 1 and 2 verify node 0's
update and announce it, so node 3 knows honest nodes hold it (node/abstain.py: f = 0, one
non-author announcer suffices) and sends no vote rather than vote a model without it.
Before the rule, node 3 voted a model of 3 updates, against the quorum's model of 4.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node.abstain import REASON
from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.fetch import SLOW_ENV
from node.operator.devnet import deployment_path, devnet_up
from tests.integration.chain_faults import TOKEN, records
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES = 4
SLOW, AUTHOR = 3, 0  # node 3 cannot fetch node 0's update
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


def wait_for(chain: ChainClient, nodes: list[NodeProcess]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while chain.round_info(1).status is RoundStatus.OPEN or not all_done(nodes, 1):
        for node in nodes:
            assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
        assert time.monotonic() < deadline, "timed out waiting for round 1"
        time.sleep(0.2)


def test_slow_link_node_abstains_and_the_round_finalizes(tmp_path: Path) -> None:
    from rich.console import Console

    opts = DemoOptions(nodes=NODES, rounds=1, task="digits-mlp", data_root=tmp_path, epochs=1)
    # nobody votes late: a finalized round waits out the whole late-vote grace (2 s)
    params = DeployParams(commit_window=20, vote_window=20, min_participants=NODES,
                          late_vote_grace=2)  # fmt: skip
    nodes: list[NodeProcess] = []
    try:
        net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                    opts.task, params)  # fmt: skip
        keys = net.accounts[1 : NODES + 1]
        fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys],
                      1000 * TOKEN)  # fmt: skip
        configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
        for index, (address, config) in enumerate(configs):
            with config.open("a") as out:  # deadline: half the vote window, not 30 s
                out.write("fetch_timeout = 5\n")
            env = {SLOW_ENV: f"{configs[AUTHOR][0]}:1"} if index == SLOW else None
            nodes.append(start_node(index, address, config.parent, config, env))
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        wait_for(chain, nodes)
        info = chain.round_info(1)
        outcome = chain.finalized_outcome(1)
        votes = {n.index: chain.vote_of(1, n.address) for n in nodes}
        voted = {n.index: chain.has_voted(1, n.address) for n in nodes}
        mine = {n.index: records(n)[1] for n in nodes}
        status = nodes[SLOW].status()
        metrics, p2p = status.get("metrics", {}), status.get("p2p", {})
        log = nodes[SLOW].log_path.read_text()
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)

    assert outcome is not None, f"round 1 {info.status.name}"
    # node 3 lacked node 0's update and knew nodes 1 and 2 verified it: it abstained
    assert not voted[SLOW], log[-3000:]
    slow = mine[SLOW]
    assert slow["rejected"] == {nodes[AUTHOR].address: "unavailable"}, slow
    # announced by nodes 1 and 2 (its author's own announcement does not count)
    assert slow["abstained"] == {"reason": REASON, "announcers": {nodes[AUTHOR].address: 2}}
    # none dropped as from an unknown peer (round.know_eligible: all 4 staked just before)
    assert "gossip.rejected.unregistered" not in p2p, p2p
    assert slow["model_cid"] != outcome.model_cid  # the model it would have voted
    assert slow["finalized_cid"] == outcome.model_cid  # still records the round's outcome
    assert metrics.get(f'votes_abstained_total{{reason="{REASON}"}}') == 1, metrics
    # the 3 others verified all 4 updates and agreed; no honest node voted a losing outcome
    for index in set(range(NODES)) - {SLOW}:
        assert voted[index], index
        assert mine[index]["verified"] == NODES, mine[index]
        assert mine[index]["model_cid"] == outcome.model_cid, mine[index]
        assert "abstained" not in mine[index]
    for index, (key, _, _) in votes.items():
        assert not voted[index] or key == info.outcome_key, (index, votes)
