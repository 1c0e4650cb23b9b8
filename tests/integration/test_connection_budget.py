"""Connections do not only accumulate: N = 6 nodes, K = 3 drawn per round, 4 rounds.

Real anvil, 6 real node processes (digits task), one overlay peer each. A drawn member
dials the other member; once the round is over that connection is closed unless the peer is
an overlay peer (its own, or one whose overlay holds this node) or on a later committee
(node/p2p/connection_budget.py). Every round still finalizes in agreement (a pruned peer
drawn again is dialled again); while the run goes on, a node connected for a while in round
r holds only its overlay and the members of round r (and r - 1, within the grace); once
the nodes are done (lingering in the last round), each holds only its overlay and the last
committee, the live /status says so.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, prepare_nodes
from node.operator.devnet import deployment_path, devnet_up
from node.p2p.connection_budget import GRACE_S, PRUNE_INTERVAL_S, overlay_of_others
from node.p2p.overlay import ranked_peers
from node.status_server import status_url
from tests.integration.chain_faults import TOKEN, records, wait_finalized
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES, K, ROUNDS, DEGREE = 6, 3, 4, 1
TIMEOUT = 240  # seconds; a guard against hangs, not a performance assertion
SETTLED_S = GRACE_S + 2 * PRUNE_INTERVAL_S + 8  # a former member is gone by then


def live_status(node: NodeProcess) -> dict[str, Any]:
    """The node's status now (its /status endpoint: status.json is written at phase changes)."""
    try:
        with urllib.request.urlopen(status_url(node.data_dir), timeout=5) as reply:
            return dict(json.loads(reply.read()))
    except Exception:  # noqa: BLE001 - not up yet, or busy: no sample
        return {}


def live_peers(node: NodeProcess) -> int | None:
    """The node's connected peers now."""
    count = live_status(node).get("connected_peers")
    return None if count is None else int(count)


def test_former_members_are_disconnected_and_every_round_still_agrees(tmp_path: Path) -> None:
    from rich.console import Console

    opts = DemoOptions(nodes=NODES, rounds=ROUNDS, task="digits-mlp", data_root=tmp_path)
    params = DeployParams(commit_window=20, vote_window=20, min_participants=NODES,
                          late_vote_grace=2, committee_size=K)  # fmt: skip
    nodes: list[NodeProcess] = []
    samples: list[tuple[int, int, int, set[str]]] = []  # node, round, peers, allowed members
    try:
        net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                    opts.task, params)  # fmt: skip
        keys = net.accounts[1 : NODES + 1]
        fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys],
                      1000 * TOKEN)  # fmt: skip
        for index, (address, config) in enumerate(
            prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
        ):
            with config.open("a") as out:
                out.write("fetch_timeout = 5\n")
                out.write(f"overlay_degree = {DEGREE}\n")
            nodes.append(start_node(index, address, config.parent, config))
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])

        def sample() -> None:  # while the rounds run: connections within round r's bound
            r = chain.current_round()
            if r < 2 or time.time() - chain.round_info(r).opened_at < SETTLED_S:
                return
            counts = [live_peers(n) for n in nodes]
            if chain.current_round() != r:
                return
            members = set(chain.committee(r) or [])
            for n, count in zip(nodes, counts, strict=True):
                if count is not None:
                    samples.append((n.index, r, count, members))

        deadline = time.monotonic() + TIMEOUT
        while chain.current_round() < ROUNDS or not all(records(n).get(ROUNDS) for n in nodes):
            assert time.monotonic() < deadline, "timed out waiting for the rounds"
            for n in nodes:
                assert n.running(), f"node {n.index} exited:\n{n.log_tail(30)}"
            sample()
            time.sleep(1.0)
        wait_finalized(chain, nodes, ROUNDS, TIMEOUT)
        statuses = {n.address: n.status() for n in nodes}
        ids = {n.address: statuses[n.address]["peer_id"] for n in nodes}
        committees = {r: chain.committee(r) for r in range(1, ROUNDS + 1)}
        outcomes = {r: chain.finalized_outcome(r) for r in range(1, ROUNDS + 1)}
        mine = {n.address: records(n) for n in nodes}

        def bound(node: NodeProcess, members: set[str]) -> int:
            me, peers = ids[node.address], set(ids.values())
            overlay = set(ranked_peers(me, peers)[:DEGREE])
            overlay |= overlay_of_others(me, peers, DEGREE, ranked_peers)
            return len((overlay | {ids[a] for a in members}) - {me})

        # lingering after the last round: each node settles to its overlay + last committee
        last = set(committees[ROUNDS] or [])
        final: dict[int, int | None] = {}
        settle_by = time.monotonic() + 3 * SETTLED_S
        while time.monotonic() < settle_by:
            final = {n.index: live_peers(n) for n in nodes}
            if all(
                c is not None and c <= bound(n, last)
                for n, c in zip(nodes, final.values(), strict=True)
            ):
                break
            time.sleep(1.0)
        p2p = {n.index: live_status(n).get("p2p", {}) for n in nodes}
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)

    for r in range(1, ROUNDS + 1):
        outcome = outcomes[r]
        assert outcome is not None, f"round {r} did not finalize"
        for address in ids:
            record = mine[address][r]
            assert record["finalized_cid"] == outcome.model_cid, (r, address, record)
            if address in (committees[r] or []):
                assert record["model_cid"] == outcome.model_cid, (r, address, record)
                assert record["verified"] == K, (r, address, record)
    for (
        index,
        count,
    ) in final.items():
        node = nodes[index]
        assert count is not None and count <= bound(node, last), (index, count, final, p2p)
    for index, r, count, members in samples:
        allowed = bound(nodes[index], members)
        assert count <= allowed, (index, r, count, allowed, samples)
    pruned = sum(v for c in p2p.values() for k, v in c.items() if k.startswith("p2p.pruned."))
    # the bound held because connections were closed (3 pairs a round: some are not overlay)
    assert pruned > 0, p2p
