"""`fedchain deploy` to a bare anvil, `devnet up` over an existing deployment, and the
errors of both: one `error:` line, before anything slow, nothing deployed.

Real anvil, the CLI as a subprocess, eth-account keystores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import Deployment
from node.keystore import create_keystore
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
TOKEN = 10**18


def fedchain(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args], capture_output=True, text=True, timeout=300,
        cwd=cwd, stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "FEDCHAIN_KEYSTORE_PASSWORD"},
    )  # fmt: skip


def one_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert needle in errors[0], errors[0]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[devnet.Devnet, Path]]:
    tmp = tmp_path_factory.mktemp("deploy")
    net = devnet.up(tmp / "anvil", port=free_port(), accounts=70)
    keystore = tmp / "deployer.json"
    create_keystore(keystore, PASSWORD, net.accounts[0][1], scrypt_n=2**12)
    (tmp / "pw.txt").write_text(PASSWORD + "\n")
    (tmp / "wrong.txt").write_text("not the password\n")
    try:
        yield net, tmp
    finally:
        devnet.down(tmp / "anvil")


def test_deploy_any_parameters_with_a_keystore(chain: tuple[devnet.Devnet, Path]) -> None:
    net, tmp = chain
    out = tmp / "blobs.json"
    result = fedchain(
        "deploy", "--rpc-url", net.rpc_url, "--keystore", str(tmp / "deployer.json"),
        "--password-file", str(tmp / "pw.txt"), "--task", "digits-mlp", "--min-participants",
        "4", "--commit-window", "30", "--vote-window", "20", "--contributor-pool", "400",
        "--voter-pool", "100", "--rule", "nnm+trimmed_mean", "--byzantine-f", "1",
        "--min-stake", "5", "--late-vote-grace", "5", "--claim-period", "600",
        "--inactivity-rounds", "3", "--inactivity-leak", "2", "--supply", "1000000",
        "--treasury", "50000", "--committee-size", "4", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    deployment = Deployment.load(out)
    assert (deployment.task_id, deployment.rule, deployment.byzantine_f) == (
        "digits-mlp",
        "nnm+trimmed_mean",
        1,
    )
    on_chain = ChainClient(net.rpc_url, deployment, net.accounts[1][1]).params()
    assert on_chain.min_participants == 4
    assert (on_chain.commit_window, on_chain.vote_window) == (30, 20)
    assert on_chain.reward_per_round == 500 * TOKEN
    assert on_chain.voter_share_bps == 2000
    assert on_chain.min_stake == 5 * TOKEN
    assert (on_chain.late_vote_grace, on_chain.claim_period) == (5, 600)
    assert (on_chain.inactivity_rounds, on_chain.inactivity_leak_bps) == (3, 200)
    assert on_chain.committee_size == deployment.params.committee_size == 4
    deployer = ChainClient(net.rpc_url, deployment, net.accounts[1][1])
    assert deployer.treasury() == 50_000 * TOKEN  # funded from the fixed supply
    assert deployer.token_balance(deployment.deployer) == 950_000 * TOKEN
    again = fedchain("deploy", "--rpc-url", net.rpc_url, "--private-key-file", "k", "--out",
                     str(out))  # fmt: skip
    one_error(again, "already exists: pass --force")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--commit-window", "5"], "--commit-window must be in [10, 2592000] seconds, got 5"),
        (["--voter-pool", "600", "--contributor-pool", "400"], "at most 50%"),
        (["--rule", "krum", "--byzantine-f", "1"], "needs at least 5 updates per round"),
        (["--supply", "10", "--treasury", "100"], "more than the whole --supply"),
        (["--committee-size", "129"], "--committee-size must be in [0, 128] participants"),
        (["--task", "nope"], "unknown task 'nope'"),
        (["--task", "nopkg.mod:make"], "pip install -e"),
        (["--password-file", "{tmp}/wrong.txt"], "wrong password"),
        (["--rpc-url", "http://127.0.0.1:{dead}"], "cannot reach the chain"),
    ],
)
def test_deploy_errors_are_one_line(
    chain: tuple[devnet.Devnet, Path], args: list[str], needle: str
) -> None:
    net, tmp = chain
    base = {"--rpc-url": net.rpc_url, "--password-file": str(tmp / "pw.txt")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value.format(tmp=tmp, dead=free_port())
    flat = [x for pair in base.items() for x in pair]
    out = tmp / "never.json"
    result = fedchain("deploy", "--keystore", str(tmp / "deployer.json"), "--out", str(out),
                      *flat)  # fmt: skip
    one_error(result, needle)
    assert not out.exists()


def test_anvil_derives_as_many_funded_accounts_as_asked(chain: tuple[devnet.Devnet, Path]) -> None:
    net, _ = chain
    assert len(net.accounts) == 70
    last = net.accounts[-1][0]
    balance = devnet.rpc_call(net.rpc_url, "eth_getBalance", [last, "latest"])
    assert int(balance, 16) > 0


def test_devnet_up_refuses_a_different_deployment_and_keeps_the_chain(tmp_path: Path) -> None:
    data = tmp_path / "devnet"
    port = str(free_port())
    try:
        first = fedchain("devnet", "up", "--data-dir", str(data), "--port", port, "--task",
                         "digits-mlp", "--min-participants", "2")  # fmt: skip
        assert first.returncode == 0, first.stderr
        deployed = Deployment.load(data / "deployment.json")
        other = fedchain("devnet", "up", "--data-dir", str(data), "--port", port,
                         "--min-participants", "3", "--rule", "median")  # fmt: skip
        one_error(other, "already has a deployment with min participants 2 (asked 3)")
        assert "rule fedavg (f=0) (asked median (f=0))" in other.stderr
        same = fedchain("devnet", "up", "--data-dir", str(data), "--port", port, "--task",
                        "digits-mlp")  # fmt: skip
        assert same.returncode == 0, same.stderr
        assert Deployment.load(data / "deployment.json") == deployed
        assert devnet.status(data).running
    finally:
        devnet.down(data)


def test_fund_rejects_a_bad_address_in_one_line(tmp_path: Path) -> None:
    one_error(fedchain("fund", "0x1234", "--data-dir", str(tmp_path)), "not an Ethereum address")
