"""anvil kill -9 mid-round, restarted from its state dump: real anvil, three real node
processes. anvil dumps its state once a second, so a kill -9 loses the transactions mined
since the last dump. The tests restart it from an older dump (what a kill landing just
before the next dump does), so that what the chain lost is known for sure:

- a dump taken before the round's first commit: the nodes find the chain lacking their
  commits, send them again while the window is open, and later rounds finalize;
- a dump taken before the round opened: the nodes leave the round the chain forgot and
  take part again, with their journalled updates, once it reopens.

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
DUMP_INTERVAL_S = devnet.STATE_INTERVAL_S


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


def test_nodes_rejoin_a_round_whose_opening_anvil_lost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Paused, the chain registers the nodes but opens no round: a dump with every node
    # registered and no round yet exists for sure.
    with network(tmp_path, 1, before_nodes=lambda net: net.chain().pause()) as net:
        chain = net.chain()
        wait_for(net.nodes, lambda: chain.participant_count() == len(net.nodes), "registry")
        time.sleep(2 * DUMP_INTERVAL_S + 0.5)
        wait_for(net.nodes, lambda: bool(valid_dump(net)), "a readable state dump")
        before_round = valid_dump(net)
        chain.unpause()
        wait_for(net.nodes, lambda: chain.round_info(1).commit_count >= 1, "a commit in round 1")
        restart_from(net, before_round)
        assert chain.current_round() == 0 and chain.paused()
        chain.unpause()  # the operator's unpause was lost with the round
        check_outcome(net, 1)
        lost = [n.status()["metrics"].get("rounds_lost_by_chain_total", 0) for n in net.nodes]
        assert sum(lost) >= 1, lost
