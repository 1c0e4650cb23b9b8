"""anvil kill -9 mid-round, restarted from its state dump: real anvil, three real node
processes. anvil dumps its state once a second, so a kill -9 loses the transactions mined
since the last dump. The tests restart it from an older dump (what a kill landing just
before the next dump does), so that what the chain lost is known for sure. Rounds take
well under a second, less than anvil's dump interval, so the nodes are frozen (SIGSTOP)
while the dump is taken: deployed with one participant more than there are nodes, they
register and wait; frozen, the test lowers the minimum and opens round 1 itself:

- a dump taken before the round's first commit, restarted once some nodes committed and
  wait for the window to close: the nodes find the chain lacking their commits, send them
  again while the window is open, and later rounds finalize;
- a dump taken after round 1's commits and before any vote, restarted once the nodes
  finished round 1 (finalized, rewards claimed) and committed in round 2: the nodes vote
  round 1 again, claim again, leave the round 2 the chain forgot and take part again,
  with their journalled updates, once it reopens.

Every round finalizes with the same model on every node and nothing is sent twice."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from functools import partial

import pytest

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import DeployParams
from node.demo.processes import NodeProcess
from node.demo.run import all_done
from node.operator.devnet import DEVNET_BLOCK_TIME
from tests.integration.chain_faults import (
    Network,
    assert_agreement_and_single_sends,
    network,
    wait_for,
    wait_rounds,
)

pytestmark = pytest.mark.integration
DOWN_S = 2.0
WINDOW_S = 60  # the commits are staged (below): slack for a loaded machine


def anvil_network(tmp_path):  # type: ignore[no-untyped-def]
    params = DeployParams(commit_window=WINDOW_S, vote_window=WINDOW_S, min_participants=4)
    return network(tmp_path, 2, params=params)


def signal_all(nodes: list[NodeProcess], sig: signal.Signals) -> None:
    for node in nodes:
        node.process.send_signal(sig)


def open_round_frozen(net: Network, chain: ChainClient, r: int) -> float:
    """Round ``r`` opened by the test with every node frozen (the nodes wait: the chain
    asks for one participant more than there are); returns when (time.time())."""
    signal_all(net.nodes, signal.SIGSTOP)
    chain.set_param("min_participants", len(net.nodes))
    wait_for([], chain.advance, f"round {r} to open", 60)  # a finalized round: its grace
    assert chain.current_round() == r and chain.round_info(r).commit_count == 0
    return time.time()


def wait_registered(net: Network, chain: ChainClient) -> None:
    def registered() -> bool:
        return sum(p.active for p in chain.participants()) == len(net.nodes)

    wait_for(net.nodes, registered, "every node's registration")


def dump_after(net: Network, since: float) -> bytes:
    """A readable state dump written after ``since`` and serialized after it too (the
    first write after it may have been serialized before)."""
    path = net.devnet_dir / "state.json"
    wait_for([], lambda: path.stat().st_mtime > since, "a state dump")
    first = path.stat().st_mtime
    wait_for([], lambda: path.stat().st_mtime > first, "the next state dump")
    wait_for([], lambda: bool(valid_dump(net)), "a readable state dump")
    return valid_dump(net)


def valid_dump(net: Network) -> bytes:
    """anvil's state file as it is now, or b"" if caught in the middle of a rewrite."""
    dump = (net.devnet_dir / "state.json").read_bytes()
    try:
        return dump if json.loads(dump) else b""
    except ValueError:
        return b""


def restart_from(net: Network, dump: bytes, while_down: Callable[[], None] = lambda: None) -> None:
    os.kill(net.net.pid, signal.SIGKILL)
    (net.devnet_dir / "state.json").write_bytes(dump)
    while_down()
    time.sleep(DOWN_S)
    restarted = devnet.up(net.devnet_dir, port=net.net.port, block_time=DEVNET_BLOCK_TIME)
    assert restarted.pid != net.net.pid


def check_outcome(net: Network, rounds: int) -> None:
    wait_rounds(net.nodes, rounds)
    assert all(n.running() for n in net.nodes)
    assert_agreement_and_single_sends(net, rounds)
    for node in net.nodes:
        assert node.status()["metrics"].get("chain_outages_total", 0) >= 1


def test_nodes_resend_commits_a_restarted_anvil_lost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with anvil_network(tmp_path) as net:
        chain = net.chain()
        wait_registered(net, chain)
        before_commit = dump_after(net, open_round_frozen(net, chain, 1))
        # The last node stays frozen until anvil is down: the others commit and wait for
        # the window to close, which it cannot before every node committed.
        *thawed, last = net.nodes
        signal_all(thawed, signal.SIGCONT)
        wait_for(thawed, lambda: chain.round_info(1).commit_count >= 1, "a commit in round 1")
        restart_from(net, before_commit, partial(signal_all, [last], signal.SIGCONT))
        info = chain.round_info(1)
        assert info.status is RoundStatus.OPEN and info.commit_count == 0, info  # lost
        check_outcome(net, 2)


def test_nodes_revote_claim_and_rejoin_after_anvil_lost_a_finalization(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with anvil_network(tmp_path) as net:
        chain = net.chain()
        wait_registered(net, chain)
        open_round_frozen(net, chain, 1)
        # Thawed one at a time, each node commits and is frozen again before the next one
        # is thawed: nobody releases an update before the last commit closes the window,
        # and the last committer cannot fetch from the frozen others, so nobody votes.
        for node in net.nodes:
            node.process.send_signal(signal.SIGCONT)
            sent = partial(chain.commitment_cid, 1, node.address)
            wait_for([node], lambda sent=sent: sent() is not None, f"node {node.index}'s commit")
            node.process.send_signal(signal.SIGSTOP)
        info = chain.round_info(1)
        assert info.commit_count == len(net.nodes) and info.winning_weight == 0, info
        committed = dump_after(net, time.time())  # every commit and no vote
        chain.set_param("min_participants", len(net.nodes) + 1)  # round 2 waits for the test
        signal_all(net.nodes, signal.SIGCONT)
        # Round 1 finalized and claimed, round 2 opened and committed: all of it is lost.
        # Round 2 opens frozen, and the last node stays frozen until anvil is down: the
        # others commit and wait for it (a round that could finish first ended the nodes'
        # two rounds before the restart, and they never voted round 1 again).
        wait_for(net.nodes, lambda: all_done(net.nodes, 1), "round 1 recorded by every node")
        open_round_frozen(net, chain, 2)
        *thawed, last = net.nodes
        signal_all(thawed, signal.SIGCONT)
        done = lambda: chain.round_info(2).commit_count == len(thawed)  # noqa: E731
        wait_for(thawed, done, "the thawed nodes' commits in round 2")
        restart_from(net, committed, partial(signal_all, [last], signal.SIGCONT))
        info = chain.round_info(1)
        assert chain.current_round() == 1 and info.status is RoundStatus.OPEN, info
        assert info.commit_count == len(net.nodes) and info.winning_weight == 0, info
        check_outcome(net, 2)
        metrics = [n.status()["metrics"] for n in net.nodes]
        assert sum(m.get("rounds_lost_by_chain_total", 0) for m in metrics) >= 1, metrics
        for node in net.nodes:
            assert chain.is_claimed(1, node.address)


def test_nodes_take_part_again_in_a_round_rewound_past_its_close(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A dump taken before round 1's commits, restarted once every node finished round 1:
    the chain is back in round 1's commit window, without the commits, votes and claims.
    The nodes do not wait for its vote deadline (the round would fail): they forget round
    1, commit again, and it finalizes."""
    with anvil_network(tmp_path) as net:
        chain = net.chain()
        wait_registered(net, chain)
        before_commit = dump_after(net, open_round_frozen(net, chain, 1))
        chain.set_param("min_participants", len(net.nodes) + 1)  # round 2 waits (not in the dump)
        signal_all(net.nodes, signal.SIGCONT)
        wait_for(net.nodes, lambda: all_done(net.nodes, 1), "round 1 recorded by every node")
        restart_from(net, before_commit)
        info = chain.round_info(1)
        assert info.status is RoundStatus.OPEN and info.commit_count == 0, info
        check_outcome(net, 2)
        metrics = [n.status()["metrics"] for n in net.nodes]
        assert all(m.get("rounds_lost_by_chain_total", 0) >= 1 for m in metrics), metrics
