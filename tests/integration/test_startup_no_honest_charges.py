"""Four honest nodes, several rounds: no node charges another for transport garbage, and
none is graylisted.

Real anvil, real node processes (the demo's), the MNIST MLP: its pushed updates (~400 KB)
span several yamux frames, which the digits MLP's (~20 KB) do not. Before yamux streams
wrote whole (node/p2p/yamux.py ``WholeWriteStream``), pubsub's concurrent writers spliced
a GRAFT into a push at start-up: honest peers charged each other ``garbage_rpc``,
graylisted each other for 60 s, and a round waited out its exchange deadline. A race
(old code: charged in each of 3 four-node runs of bench/vs_flower.py's task); the check
that fails every time is tests/integration/test_yamux_whole_writes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from node.demo.run import DemoOptions, run_demo
from node.p2p.peer_score import GRAYLIST_SCORE
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES, ROUNDS = 4, 3


def test_honest_nodes_never_charge_each_other_garbage_nor_graylist(tmp_path: Path) -> None:
    opts = DemoOptions(
        nodes=NODES,
        rounds=ROUNDS,
        task="mnist5k-mlp",
        out=tmp_path / "out",
        data_root=tmp_path,
        stop_devnet=True,
        port=free_port(),
        timeout_per_round=120.0,
    )
    assert run_demo(opts, Console(quiet=True)) == 0
    statuses = [json.loads(p.read_text()) for p in sorted(opts.nodes_dir.glob("node*/status.json"))]
    assert len(statuses) == NODES
    for status in statuses:
        p2p = status["p2p"]
        assert p2p.get("gossip.transport.garbage_rpc", 0) == 0
        assert p2p.get("p2p.disconnected.graylisted", 0) == 0
        assert p2p.get("p2p.refused.graylisted", 0) == 0
        assert all(score > GRAYLIST_SCORE for score in status["peer_scores"].values())
