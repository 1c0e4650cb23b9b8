"""Small updates ride their authors' announcements (node/store/pushed.py).

Real anvil, 3 real node processes (digits-mlp, whose update is a few KiB), 2 rounds: every
member verifies every other member's update from the author's push in round 2 (round 1's
may be fetched by a node that subscribed after the others pushed), holds it in its
blockstore (so it can serve it), and every round finalizes with every node agreeing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.chain_faults import (
    NODES,
    assert_agreement_and_single_sends,
    blob_of,
    network,
    records,
    wait_finalized,
)

pytestmark = pytest.mark.integration

ROUNDS = 2


def test_members_verify_pushed_updates_without_fetching(tmp_path: Path) -> None:
    with network(tmp_path, ROUNDS) as net:
        wait_finalized(net.chain(), net.nodes, ROUNDS)
        assert_agreement_and_single_sends(net, ROUNDS)
        chain = net.chain()
        for node in net.nodes:
            metrics = node.status().get("metrics", {})
            pushed = sum(v for k, v in metrics.items() if k.startswith("updates_pushed_total"))
            # From round 2 on every update comes pushed. In round 1 a node that joined the
            # announcement topic after the others pushed fetches what it missed.
            assert pushed >= (NODES - 1) * (ROUNDS - 1), (node.index, metrics)
            assert metrics.get("fetch_seconds_count", 0) <= NODES - 1, (node.index, metrics)
            assert metrics.get("updates_pushed_sent_total") == ROUNDS, (node.index, metrics)
            assert not [k for k in metrics if k.startswith("pushes_rejected_total")], metrics
            for r in range(1, ROUNDS + 1):
                assert records(node)[r]["verified"] == NODES, (node.index, r)
                for cid in chain.commitments(r).values():
                    blob_of(node, cid)  # held in its blockstore: served like a fetched one
