"""Operator commands while the daemon runs go through its control endpoint: no nonce races.

Real anvil, three real node processes taking part in rounds. Meanwhile `fedchain claim`,
`fedchain stake 1` and `fedchain unstake 1` run in a loop with --node-dir of a running
node (the account the daemon commits and votes with). Every one must be handled by the
node itself and succeed, and every node must commit and vote in every round, with no
failed transaction on either side, and all nodes agree on every finalized model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import DeployParams, fund_accounts
from node.control import PORT_FILE, TOKEN_FILE
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.operator.devnet import deployment_path, devnet_up
from node.state import NodeState
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
TOKEN = 10**18
# A digits round of 3 nodes takes 0.15-1 s, a batch of commands (3 CLI processes starting
# per command) seconds to tens of seconds: no fixed round count is sure to outlast it. The
# nodes run until the chain's stop rule ends the deployment, which the test stages once a
# whole batch ran while the rounds moved on; the last round is the deployment's end.
BUSY_BATCHES = 1
MORE_ROUNDS = 2  # after the busy batches, before the stop rule ends the deployment
FUNDED = 1000 * TOKEN
# The rounds index cache is keyed by chain id and coordinator address, the same on every
# fresh devnet: keep this test's apart from other runs'.
CACHE: dict[str, str] = {}
NONCE_ERRORS = ("nonce too low", "replacement transaction underpriced", "already known")


def _env() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", **CACHE}
    env.pop("FEDCHAIN_KEYSTORE_PASSWORD", None)
    return env


def _cmd(args: tuple[str | Path, ...], deployment: Path) -> list[str]:
    return [sys.executable, "-m", "node", *map(str, args), "--deployment", str(deployment)]


def fedchain(*args: str | Path, deployment: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _cmd(args, deployment), capture_output=True, text=True, timeout=300, env=_env()
    )


def fedchain_start(*args: str | Path, deployment: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _cmd(args, deployment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def wait_for_control(nodes: list[NodeProcess], deadline: float) -> None:
    while time.monotonic() < deadline:
        if all((n.data_dir / PORT_FILE).exists() for n in nodes):
            return
        assert all(n.running() for n in nodes), [n.log_tail(20) for n in nodes]
        time.sleep(0.5)
    raise AssertionError("the nodes never opened their control endpoints")


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rich.console import Console

    root = tmp_path_factory.mktemp("control")
    CACHE["FEDCHAIN_CACHE_DIR"] = str(root / "cache")
    opts = DemoOptions(nodes=3, rounds=0, task="digits-mlp", data_root=root, epochs=1)
    params = DeployParams(commit_window=60, vote_window=60, min_participants=3)
    net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True), opts.task,
                                params)  # fmt: skip
    keys = net.accounts[1:4]
    fund_accounts(net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys], FUNDED)
    deployment_file = deployment_path(opts.devnet_dir)
    configs = prepare_nodes(opts, deployment_file, keys)
    nodes: list[NodeProcess] = []
    commands: list[tuple[list[str], subprocess.CompletedProcess[str], bool]] = []
    try:
        for index, (address, config) in enumerate(configs):
            nodes.append(start_node(index, address, config.parent, config, CACHE))
        deadline = time.monotonic() + 900
        wait_for_control(nodes, deadline)
        chain = ChainClient(net.rpc_url, deployment, net.accounts[0][1])
        # every node's commands run side by side, while the nodes commit and vote
        busy_batches = 0
        while busy_batches < BUSY_BATCHES:
            assert time.monotonic() < deadline, [n.log_tail(30) for n in nodes]
            batch_busy = True
            for args in (["claim"], ["stake", "1"], ["unstake", "1"]):
                argvs = [[*args, "--node-dir", str(n.data_dir), "--json"] for n in nodes]
                before = chain.current_round()
                running = [fedchain_start(*argv, deployment=deployment_file) for argv in argvs]
                results = [finish(p) for p in running]
                busy = before >= 1 and chain.current_round() > before  # rounds went on
                batch_busy = batch_busy and busy
                commands += [(a, r, busy) for a, r in zip(argvs, results, strict=True)]
            busy_batches += batch_busy
        # staged: in force from the next round's opening, it ends the deployment soon after
        chain.set_stop_rule(0, 0, chain.current_round() + MORE_ROUNDS)
        while time.monotonic() < deadline and not all_done(nodes, sys.maxsize):
            assert all(n.running() for n in nodes), [n.log_tail(20) for n in nodes]
            time.sleep(0.5)
        assert all_done(nodes, sys.maxsize), [n.log_tail(30) for n in nodes]  # all finished
        end = chain.deployment_end()
        assert end is not None
        stop_all(nodes[:1], timeout=120)  # node 0 stopped: its commands sign locally again
        yield chain, nodes, commands, deployment_file, end.round
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)


def records(node: NodeProcess) -> dict[int, dict[str, Any]]:
    state = NodeState(node.data_dir / "state.sqlite")
    try:
        return {int(r["round"]): r for r in state.records()}
    finally:
        state.close()


def test_operator_commands_went_through_the_node_and_succeeded(busy_run) -> None:  # type: ignore[no-untyped-def]
    _, _, commands, _, _ = busy_run
    # each kind of command ran (and finished) while the nodes were taking part in rounds
    assert {argv[0] for argv, _, busy in commands if busy} == {"claim", "stake", "unstake"}
    for argv, result, _ in commands:
        assert result.returncode == 0, (argv, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        answer = json.loads(result.stdout)
        assert answer["via"] == "node", (argv, answer)
        assert not any(e in result.stdout + result.stderr for e in NONCE_ERRORS)
        if argv[0] == "stake":
            assert answer["staked"] == TOKEN and answer["action"] == "topped up"
        if argv[0] == "unstake":
            assert answer["requested"] == TOKEN


def test_every_node_committed_and_voted_every_round_with_no_failed_transaction(busy_run) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, _, _, rounds = busy_run
    for node in nodes:
        log = node.log_path.read_text()
        assert not any(e in log for e in NONCE_ERRORS), node.log_tail(40)
        assert "vote not counted" not in log
        assert "control: stake" in log and "control: unstake" in log
        status = json.loads((node.data_dir / "status.json").read_text())
        assert status["metrics"].get("round_errors_total", 0) == 0
        assert status["metrics"].get("votes_rejected_total", 0) == 0
        for r in range(1, rounds + 1):
            assert chain.commitment_cid(r, node.address) is not None, (node.index, r)
            assert chain.has_voted(r, node.address), (node.index, r)


def test_rounds_finalized_with_identical_models_and_stake_moved(busy_run) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, commands, _, rounds = busy_run
    mine = [records(n) for n in nodes]
    for r in range(1, rounds + 1):
        outcome = chain.finalized_outcome(r)
        assert outcome is not None, f"round {r} did not finalize"
        assert {m[r]["finalized_cid"] for m in mine} == {outcome.model_cid}
        assert {m[r]["model_cid"] for m in mine} == {outcome.model_cid}
    for node in nodes:
        runs = sum(
            1 for argv, _, _ in commands if argv[0] == "unstake" and str(node.data_dir) in argv
        )
        info = chain.stake_info(node.address)
        assert info.unbonding == runs * TOKEN
        assert info.stake == 100 * TOKEN  # each +1 was matched by a -1


def test_voter_rewards_of_earlier_rounds_were_claimed(busy_run) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, _, _, rounds = busy_run
    for node in nodes:
        for r in range(1, rounds):  # the last round's unlocks after its vote deadline
            outcome, weight, claimed = chain.vote_of(r, node.address)
            assert weight > 0 and claimed, (node.index, r)
        settled = [rec for r, rec in records(node).items() if rec.get("voter_settled")]
        assert settled, "the node never recorded a voter reward it claimed"
        assert all(rec["voter_reward"] > 0 for rec in settled)


def test_control_files_are_private_and_go_with_the_node(busy_run) -> None:  # type: ignore[no-untyped-def]
    _, nodes, _, _, _ = busy_run
    stopped, *running = nodes
    for node in running:
        token = node.data_dir / TOKEN_FILE
        assert token.stat().st_mode & 0o777 == 0o600
        assert len(token.read_text().strip()) >= 32
    assert not (stopped.data_dir / TOKEN_FILE).exists()
    assert not (stopped.data_dir / PORT_FILE).exists()


def test_a_stopped_node_s_commands_sign_locally(busy_run) -> None:  # type: ignore[no-untyped-def]
    chain, nodes, _, deployment, _ = busy_run
    home = nodes[0].data_dir
    # the demo's node directories hold a plaintext key.hex, no keystore: say how to fix it
    result = fedchain("claim", "--node-dir", home, deployment=deployment)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: no keystore in {home} (only a plaintext key.hex): encrypt it with "
        f"`fedchain account import --private-key-file {home / 'key.hex'} --node-dir {home}`, "
        f"or sign with it as is: --private-key-file {home / 'key.hex'}"
    ]
    key = home / "key.hex"
    before = chain.stake_info(nodes[0].address).stake
    result = fedchain("stake", "2", "--node-dir", home, "--private-key-file", key, "--json",
                      deployment=deployment)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "via" not in json.loads(result.stdout)
    assert f"warning: signing with the plaintext key in {key}" in result.stderr
    assert chain.stake_info(nodes[0].address).stake == before + 2 * TOKEN
