"""Take the model away: real anvil, three real node processes, two finalized rounds.

`fedchain model export` runs as a user would (a subprocess): once from one node's data
directory, once from the running peers only (registry addresses, libp2p). The exported
file is then loaded by a separate Python that imports torch and the task's model
builder, and nothing of fedchain's codec, chain or network code; it must reproduce the
accuracy the nodes recorded for that round.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.operator.devnet import deployment_path, devnet_up
from node.store.cid import compute_cid
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
TOKEN = 10**18
ROUNDS = 2
TASK = "digits-mlp"

# Evaluates model.pt on the node's test split, batch by batch as the node does.
RELOAD = """
import json, sys, torch
from node.learning.tasks import get_task
from node.learning.partition import SPLIT_SEED, train_test_split
path, task_id = sys.argv[1], sys.argv[2]
task = get_task(task_id)
model = task.build_model()
checkpoint = torch.load(path, weights_only=True)
model.load_state_dict(checkpoint["state_dict"])
model.eval()
_, test = train_test_split(task.load_all(), SPLIT_SEED)
x = torch.from_numpy(test.features)
correct = 0
with torch.no_grad():
    for i in range(0, len(test), 256):
        correct += int((model(x[i:i + 256]).argmax(1).numpy() == test.labels[i:i + 256]).sum())
internals = [m for m in ("node.update.codec", "node.learning.fixedpoint", "node.chain.client",
                         "node.p2p.network", "node.store.cid") if m in sys.modules]
print(json.dumps({"accuracy": correct / len(test), "metadata": checkpoint["metadata"],
                  "internals": internals}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rich.console import Console

    root = tmp_path_factory.mktemp("export")
    opts = DemoOptions(nodes=3, rounds=ROUNDS, task=TASK, data_root=root, epochs=1)
    # the chain's stop rule ends the deployment with round ROUNDS (test_the_chain_finished...)
    params = DeployParams(commit_window=60, vote_window=60, min_participants=3, max_rounds=ROUNDS)
    net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True), opts.task,
                                params)  # fmt: skip
    keys = net.accounts[1:4]
    fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys], 1000 * TOKEN)
    configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
    nodes: list[NodeProcess] = []
    try:
        for index, (address, config) in enumerate(configs):
            nodes.append(start_node(index, address, config.parent, config))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not all_done(nodes, ROUNDS):
            assert all(n.running() for n in nodes), [n.log_tail(20) for n in nodes]
            time.sleep(0.5)
        assert all_done(nodes, ROUNDS), [n.log_tail(20) for n in nodes]
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        # the nodes linger after their last round, serving blobs: peers can be asked
        yield chain, nodes, deployment_path(opts.devnet_dir), root
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)


def fedchain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args], capture_output=True, text=True, timeout=300
    )


def reload_outside(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RELOAD, str(path), TASK], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def recorded_accuracy(node: NodeProcess, r: int) -> float:
    (record,) = [x for x in node.status()["records"] if x["round"] == r]
    return float(record["accuracy"])


def test_export_from_a_node_dir_reproduces_the_recorded_accuracy(trained) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, deployment, root = trained
    out = root / "from-node.pt"
    result = fedchain("model", "export", "--latest", "--format", "pt", "--out", str(out),
                      "--deployment", str(deployment), "--node-dir", str(nodes[0].data_dir),
                      "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    outcome = chain.finalized_outcome(ROUNDS)
    assert outcome is not None
    assert (report["round"], report["cid"]) == (ROUNDS, outcome.model_cid)
    assert "block store" in report["source"]

    reloaded = reload_outside(out)
    assert reloaded["internals"] == []
    assert reloaded["metadata"]["fedchain.cid"] == outcome.model_cid
    assert reloaded["metadata"]["fedchain.round"] == str(ROUNDS)
    for node in nodes:  # every node recorded the same accuracy for the same model
        assert reloaded["accuracy"] == recorded_accuracy(node, ROUNDS)


def test_export_from_peers_only_matches_round_one(trained) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, deployment, root = trained
    out = root / "from-peers.pt"
    # no --node-dir: the registered participants' addresses on chain, over libp2p
    result = fedchain("model", "export", "--round", "1", "--out", str(out),
                      "--deployment", str(deployment), "--timeout", "30", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["source"] == "peers over libp2p"
    reloaded = reload_outside(out)
    assert reloaded["metadata"]["fedchain.cid"] == chain.latest_model_cid_of(1)
    assert reloaded["accuracy"] == recorded_accuracy(nodes[1], 1)
    assert chain.latest_model_cid_of(1) != chain.latest_model_cid_of(ROUNDS)


def test_get_raw_blob_from_one_peer_by_multiaddr(trained) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, deployment, root = trained
    cid = chain.latest_model_cid_of(ROUNDS)
    peer = chain.participant(nodes[2].address)
    assert peer is not None
    addr = f"{peer.addrs[0]}/p2p/{peer.peer_id}" if "/p2p/" not in peer.addrs[0] else peer.addrs[0]
    out = root / "model.bin"
    result = fedchain("model", "get", cid, "--out", str(out), "--peer", addr, "--timeout", "30")
    assert result.returncode == 0, result.stderr[-3000:]
    assert compute_cid(out.read_bytes()) == cid


def test_a_round_that_does_not_exist_is_one_error_line(trained) -> None:  # type: ignore[no-untyped-def]
    chain, _, deployment, root = trained
    result = fedchain("model", "export", "--round", "99", "--out", str(root / "x.pt"),
                      "--deployment", str(deployment))  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: round 99 does not exist (rounds 1..{chain.current_round()}); try --latest"
    ]
    assert not (root / "x.pt").exists()


def test_the_chain_finished_the_deployment_and_export_final_takes_its_model(trained) -> None:  # type: ignore[no-untyped-def]
    from node.chain.client import StopReason
    from node.stoprule import metric_bps_of

    chain, nodes, deployment, root = trained
    end = chain.deployment_end()
    assert end is not None
    assert (end.round, end.reason) == (ROUNDS, StopReason.MAX_ROUNDS)
    assert end.model_cid == chain.latest_model_cid_of(ROUNDS) == chain.final_model_cid()
    # every node evaluated the same model on the same test split: the agreed metric is it
    metric = metric_bps_of(recorded_accuracy(nodes[0], ROUNDS))
    assert chain.agreed_metric(ROUNDS) == end.metric_bps == metric
    assert {v.metric_bps for v in chain.votes(ROUNDS)} == {metric}
    assert chain.advance() is False  # DeploymentOver: no round opens any more
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
        n.status()["phase"].startswith("finished") for n in nodes
    ):
        time.sleep(0.5)
    assert [n.status()["phase"].split(":")[0] for n in nodes] == ["finished"] * len(nodes)

    from typer.testing import CliRunner

    from node.cli import app

    out = root / "final.pt"  # in-process: torch is loaded here already
    result = CliRunner().invoke(app, ["model", "export", "--final", "--out", str(out),
                                      "--deployment", str(deployment), "--node-dir",
                                      str(nodes[1].data_dir), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert (report["round"], report["cid"]) == (ROUNDS, end.model_cid)
