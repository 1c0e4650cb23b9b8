"""Rounds with a committee: K = 2 of 4 nodes drawn per round, 2 rounds, end to end.

Real anvil, 4 real node processes (digits task). Every round finalizes with the votes of
its 2 members; only members commit and vote; the 2 others observe (no training, commit,
fetch or vote), record ``selected: false`` and the finalized model; every node's view of
the committee is the chain's ``CommitteeSelected`` event; a member fetches at most the
K - 1 updates of the other member (its own is local), never all N - 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, prepare_nodes
from node.operator.devnet import deployment_path, devnet_up
from tests.integration.chain_faults import TOKEN, records, wait_finalized
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES, K, ROUNDS = 4, 2, 2
TIMEOUT = 180  # seconds; a guard against hangs, not a performance assertion


def test_only_the_committee_trains_and_votes_and_everyone_agrees(tmp_path: Path) -> None:
    from rich.console import Console

    opts = DemoOptions(nodes=NODES, rounds=ROUNDS, task="digits-mlp", data_root=tmp_path)
    params = DeployParams(commit_window=20, vote_window=20, min_participants=NODES,
                          late_vote_grace=2, committee_size=K)  # fmt: skip
    nodes: list[NodeProcess] = []
    try:
        net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                    opts.task, params)  # fmt: skip
        keys = net.accounts[1 : NODES + 1]
        fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys],
                      1000 * TOKEN)  # fmt: skip
        for index, (address, config) in enumerate(
            prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
        ):
            with config.open("a") as out:  # exchange deadline: half the vote window
                out.write("fetch_timeout = 5\n")
                # one overlay peer: the members are often not connected until they are
                # drawn and dial each other (node/committee_links.py)
                out.write("overlay_degree = 1\n")
            nodes.append(start_node(index, address, config.parent, config))
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        wait_finalized(chain, nodes, ROUNDS, TIMEOUT)
        rounds = range(1, ROUNDS + 1)
        committees = {r: chain.committee(r) for r in rounds}
        outcomes = {r: chain.finalized_outcome(r) for r in rounds}
        commits = {r: chain.commitments(r) for r in rounds}
        voted = {(r, n.address): chain.has_voted(r, n.address) for r in rounds for n in nodes}
        mine = {n.address: records(n) for n in nodes}
        statuses = {n.address: n.status() for n in nodes}
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)

    addresses = {n.address for n in nodes}
    member_rounds = dict.fromkeys(addresses, 0)
    for r in rounds:
        members, outcome = committees[r], outcomes[r]
        assert members is not None and len(set(members)) == K, members
        assert set(members) <= addresses
        assert outcome is not None, f"round {r} did not finalize"
        assert set(commits[r]) == set(members), (r, commits[r], members)
        for address in addresses:
            record = mine[address][r]
            assert record["committee"] == members, (r, address, record)  # the event's view
            assert record["finalized_cid"] == outcome.model_cid, (r, address, record)
            if address in members:
                member_rounds[address] += 1
                assert voted[r, address], (r, address)
                assert record["selected"] is True and record["committed"], record
                assert record["verified"] == K and record["model_cid"] == outcome.model_cid
            else:
                assert not voted[r, address], (r, address)
                assert record["selected"] is False and not record["committed"], record
                assert record["model_cid"] is None and record["verified"] == 0, record
    fetched = 0
    for address, status in statuses.items():
        metrics = status.get("metrics", {})
        # every round it recorded as not drawn (observed or caught up), the checked ones and
        # any after them: counted from the records in the same status.json snapshot as the
        # counter (the node counts a round as it records it)
        observed = sum(1 for rec in status.get("records", []) if rec.get("selected") is False)
        assert observed >= ROUNDS - member_rounds[address], (address, mine[address])
        assert metrics.get("rounds_not_selected_total", 0) == observed, (address, metrics)
        # the other member's update, per round as a member: taken from its author's push
        # (node/store/pushed.py) or fetched over the network
        pushed = sum(v for k, v in metrics.items() if k.startswith("updates_pushed_total"))
        got = metrics.get("fetch_seconds_count", 0) + pushed
        assert got <= (K - 1) * member_rounds[address], (address, metrics)
        fetched += got
        # every fetch got its update on the first attempt, from an author the member had
        # dialled when the committee was drawn (or was connected to), not on demand
        assert metrics.get("fetch_retries_total", 0) == 0, (address, metrics)
        assert metrics.get("fetch_dials_total", 0) == 0, (address, metrics)
        assert status.get("chain_watch") == "websocket", status.get("chain_watch")
    assert fetched > 0  # the metrics are the ones the exchange counts
