"""anvil kill -9 mid-round, restarted from its state dump: real anvil, three real node
processes. anvil dumps its state once a second, so a kill -9 loses the transactions mined
since the last dump; the test restarts it from a dump taken before the round's first
commit (a kill landing just before the next dump), so that commit is lost for sure. The
nodes find the chain lacking their commits (or the round itself), send them again while
the windows are open, and every round finalizes with nothing sent twice."""

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
    assert_agreement_and_single_sends,
    network,
    wait_for,
    wait_rounds,
)

pytestmark = pytest.mark.integration
ROUNDS = 2
DOWN_S = 2.0


def test_nodes_resend_what_a_restarted_anvil_lost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with network(tmp_path, ROUNDS) as net:
        chain = net.chain()
        state = net.devnet_dir / "state.json"
        before_commit = b""

        def first_commit() -> bool:
            nonlocal before_commit
            if chain.current_round() < 1:
                return False
            dump = state.read_bytes()
            if chain.round_info(1).commit_count == 0:
                with_valid_json = dump if dump.strip() and json.loads(dump) else b""
                before_commit = with_valid_json or before_commit
                return False
            return bool(before_commit)

        wait_for(net.nodes, first_commit, "a commit in round 1")
        os.kill(net.net.pid, signal.SIGKILL)
        state.write_bytes(before_commit)
        time.sleep(DOWN_S)
        restarted = devnet.up(net.devnet_dir, port=net.net.port, block_time=DEVNET_BLOCK_TIME)
        assert restarted.pid != net.net.pid
        info = chain.round_info(1)
        assert info.status is RoundStatus.NONE or info.commit_count == 0, info  # lost
        wait_rounds(net.nodes, ROUNDS)
        assert all(n.running() for n in net.nodes)
        assert_agreement_and_single_sends(net, ROUNDS)
        for node in net.nodes:
            assert node.status()["metrics"].get("chain_outages_total", 0) >= 1
        devnet.down(net.devnet_dir)
