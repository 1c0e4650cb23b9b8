"""anvil kill -9 mid-round, restarted from its state dump: real anvil, three real node
processes. anvil dumps its state once a second, so a kill -9 loses the transactions mined
since the last dump. The tests restart it from an older dump (what a kill landing just
before the next dump does), so that what the chain lost is known for sure:

- a dump taken before the round's first commit: the nodes find the chain lacking their
  commits, send them again while the window is open, and later rounds finalize;
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

import pytest

from node.chain import devnet
from node.chain.client import RoundStatus
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


def valid_dump(net: Network) -> bytes:
    """anvil's state file as it is now, or b"" if caught in the middle of a rewrite."""
    dump = (net.devnet_dir / "state.json").read_bytes()
    try:
        return dump if json.loads(dump) else b""
    except ValueError:
        return b""


def restart_from(net: Network, dump: bytes) -> None:
    os.kill(net.net.pid, signal.SIGKILL)
    (net.devnet_dir / "state.json").write_bytes(dump)
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
    with network(tmp_path, 2) as net:
        chain = net.chain()
        before_commit = b""

        def first_commit() -> bool:
            nonlocal before_commit
            if chain.current_round() < 1:
                return False
            dump = valid_dump(net)
            if chain.round_info(1).commit_count == 0:
                before_commit = dump or before_commit
                return False
            return bool(before_commit)

        wait_for(net.nodes, first_commit, "a commit in round 1")
        restart_from(net, before_commit)
        info = chain.round_info(1)
        assert info.status is RoundStatus.NONE or info.commit_count == 0, info  # lost
        check_outcome(net, 2)


def test_nodes_revote_claim_and_rejoin_after_anvil_lost_a_finalization(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with network(tmp_path, 2) as net:
        chain = net.chain()
        wait_for(net.nodes, lambda: chain.round_info(1).commit_count == len(net.nodes), "commits")
        # Frozen, the nodes cannot vote: the next dump has every commit and no vote.
        for node in net.nodes:
            node.process.send_signal(signal.SIGSTOP)
        frozen_at = time.time()
        wait_for([], lambda: (net.devnet_dir / "state.json").stat().st_mtime > frozen_at, "dump")
        wait_for([], lambda: bool(valid_dump(net)), "a readable state dump")
        committed = valid_dump(net)
        for node in net.nodes:
            node.process.send_signal(signal.SIGCONT)
        # Round 1 finalized and claimed, round 2 opened and committed: all of it is lost.
        wait_for(net.nodes, lambda: chain.round_info(2).commit_count >= 1, "a commit in round 2")
        restart_from(net, committed)
        info = chain.round_info(1)
        assert chain.current_round() == 1 and info.status is RoundStatus.OPEN, info
        assert info.commit_count == len(net.nodes) and info.winning_weight == 0, info
        check_outcome(net, 2)
        metrics = [n.status()["metrics"] for n in net.nodes]
        assert sum(m.get("rounds_lost_by_chain_total", 0) for m in metrics) >= 1, metrics
        for node in net.nodes:
            assert chain.is_claimed(1, node.address)
