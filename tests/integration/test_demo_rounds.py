"""End to end: real anvil, 3 real node processes (libp2p + Bitswap), 2 rounds.

Runs `fedchain demo` as a user would and then checks the outcome against the chain
itself, not only against what the demo reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from node.chain import devnet
from node.chain.deploy import Deployment
from node.operator.devnet import deployment_path
from node.operator.format import TOKEN
from node.operator.keys import client
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

NODES = 3
ROUNDS = 2
FUNDED = 1000 * TOKEN
STAKE = 100 * TOKEN


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("demo")
    out = root / "out"
    cmd = [
        sys.executable,
        "-m",
        "node",
        "demo",
        "--nodes",
        str(NODES),
        "--rounds",
        str(ROUNDS),
        "--task",
        "digits-mlp",
        "--out",
        str(out),
        "--port",
        str(free_port()),
        "--data-dir",
        str(root / "data"),
    ]
    # Pinning to an unreachable Kubo API must be logged and counted, never fatal.
    env = {**os.environ, "FEDCHAIN_IPFS_API": f"/ip4/127.0.0.1/tcp/{free_port()}"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    yield result, out, root / "data"
    devnet.down(root / "data" / "demo" / "devnet")


def test_demo_exits_zero_with_every_round_finalized(demo_run) -> None:  # type: ignore[no-untyped-def]
    result, out, _ = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] is True
    assert [r["round"] for r in report["rounds"]] == list(range(1, ROUNDS + 1))
    assert (out / "accuracy.png").stat().st_size > 0


def test_nodes_agree_with_the_chain_and_got_paid(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out, data = demo_run
    report = json.loads((out / "report.json").read_text())
    chain = client(deployment_path(data / "demo" / "devnet"), None)
    assert isinstance(Deployment.load(deployment_path(data / "demo" / "devnet")), Deployment)
    earned: dict[str, int] = {}
    for row in report["rounds"]:
        outcome = chain.finalized_outcome(row["round"])
        assert outcome is not None, f"round {row['round']} not finalized on chain"
        assert set(row["node_cids"].values()) == {outcome.model_cid}
        assert len(row["node_cids"]) == NODES
        for address, amount in row["rewards"].items():
            assert amount > 0
            assert chain.is_claimed(row["round"], address)
            earned[address] = earned.get(address, 0) + amount
    for address, total in earned.items():
        # The nodes also claim their voter rewards, of every round but the last (locked
        # until a later round opens or its vote deadline passes).
        voter = 0
        for r in range(1, ROUNDS):
            _, _, claimed = chain.vote_of(r, address)
            assert claimed, f"voter reward of round {r} not claimed by {address}"
            voter += chain.voter_reward(r, address)
        assert voter > 0
        # funded, staked, then paid by Merkle and voter claims: the balance proves both paid
        assert chain.token_balance(address) == FUNDED - STAKE + total + voter
    accuracies = [r["accuracy"] for r in report["rounds"]]
    assert accuracies[-1] > report["genesis_accuracy"]


def test_unreachable_pinning_api_was_counted_not_fatal(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, _, data = demo_run
    for node_dir in sorted((data / "demo").glob("node*")):
        status = json.loads((node_dir / "status.json").read_text())
        assert status["p2p"].get("pin.failed", 0) >= ROUNDS, status["p2p"]
        assert len(status["records"]) == ROUNDS
