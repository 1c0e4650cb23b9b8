"""SIGTERM on a node right after it committed: real anvil, three real node processes. The
stopping node keeps serving its blob until the round's exchange deadline, so the round
still finalizes for the others with its update included, then it exits by itself."""

from __future__ import annotations

import pytest

from node.faults import STOP_ENV
from tests.integration.chain_faults import network, records, wait_for

pytestmark = pytest.mark.integration
STOPPING = 2


def test_stopped_node_serves_its_update_until_the_exchange_deadline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with network(tmp_path, 1, env={STOPPING: {STOP_ENV: "committed:1"}}) as net:
        stopping, others = net.nodes[STOPPING], net.nodes[:STOPPING]
        chain = net.chain()
        wait_for(others, lambda: all(len(records(n)) >= 1 for n in others), "round 1")
        wait_for(others, lambda: not stopping.running(), "the stopped node to exit", 60)
        outcome = chain.finalized_outcome(1)
        assert outcome is not None
        assert chain.commitment_cid(1, stopping.address) is not None
        for node in others:
            mine = records(node)[1]
            assert mine["verified"] == 3, mine  # the stopped node's update included
            assert mine["model_cid"] == mine["finalized_cid"] == outcome.model_cid
        assert stopping.process.returncode == 0, stopping.log_tail(20)
        log = stopping.log_path.read_text()
        assert "SIGTERM received" in log
        assert "stopping: serving blobs until" in log
