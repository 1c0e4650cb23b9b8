"""The operator scripts (scripts/*.py) as a user runs them, against a devnet that ran a demo.

One real `fedchain demo` (3 node processes, 2 rounds, digits task) runs once for the
module and leaves its devnet running; the scripts then run as subprocesses from another
working directory and every number they print is checked against the chain itself.
Each node directory is used by one kind of test (node0: claims, node1: staking, node2:
mistakes), so the tests do not depend on each other's state changes.

The demo stops its nodes once every node finished round 2; by then a node may already
have opened round 3 (nobody takes part: it fails at its deadline). The tests accept that
one extra open round and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.keystore import KEYSTORE_FILE, PASSWORD_ENV, import_plain_key
from node.operator.devnet import deployment_path
from node.operator.format import TOKEN
from node.operator.keys import client
from node.types import cid_from_bytes
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
NODES = 3
PASSWORD = "scripts test password"
ROUNDS = 2


@dataclass(frozen=True)
class Demo:
    root: Path  # a directory outside the repository: the scripts run from here
    devnet_dir: Path
    deployment: Path

    def node_dir(self, index: int) -> Path:
        return self.root / "data" / "demo" / f"node{index}"

    def chain(self, index: int | None = None) -> ChainClient:
        """A client signing as node ``index`` (read-only when None)."""
        key = None if index is None else self.node_dir(index) / "key.hex"
        return client(self.deployment, key)

    @property
    def rpc_url(self) -> str:
        return self.chain().rpc_url


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("scripts")
    data = root / "data"
    cmd = [
        sys.executable,
        "-m",
        "node",
        "demo",
        "--nodes",
        str(NODES),
        "--rounds",
        str(ROUNDS),
        "--no-chain-round-cap",  # the last test drives one more round by hand
        "--task",
        "digits-mlp",
        "--port",
        str(free_port()),
        "--data-dir",
        str(data),
        "--out",
        str(root / "out"),
    ]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        made = Demo(root, data / "demo" / "devnet", deployment_path(data / "demo" / "devnet"))
        for index in range(NODES):  # the scripts sign with the nodes' keystores
            home = made.node_dir(index)
            import_plain_key(home / "key.hex", home / KEYSTORE_FILE, PASSWORD)
        yield made
    finally:
        devnet.down(data / "demo" / "devnet")


def run_script(demo: Demo, name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python scripts/<name>.py ARGS --deployment FILE`` from outside the repository."""
    argv = [str(a) for a in args]
    # Options go after the subcommand for stake.py (argparse subparsers own them).
    cmd = [sys.executable, str(SCRIPTS / f"{name}.py"), *argv, "--deployment", str(demo.deployment)]
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", PASSWORD_ENV: PASSWORD}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=demo.root, env=env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def plain_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error: ...`` line a mistake prints (exit code 1, nothing else, no traceback)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def addresses(demo: Demo) -> list[str]:
    return [demo.chain(i).address for i in range(NODES)]


# ---------------------------------------------------------------- rounds.py


def extra_rounds(chain: ChainClient) -> list[int]:
    """Rounds after the demo's: at most one, opened as the nodes stopped, never committed to."""
    extra = list(range(ROUNDS + 1, chain.current_round() + 1))
    assert len(extra) <= 1
    for r in extra:
        info = chain.round_info(r)
        assert info.status is RoundStatus.OPEN and info.commit_count == 0
    return extra


def test_rounds_json_lists_the_finalized_rounds(demo: Demo) -> None:
    chain = demo.chain()
    extra = extra_rounds(chain)
    rows = ok_json(run_script(demo, "rounds", "--json"))
    assert [row["round"] for row in rows] == list(range(1, ROUNDS + 1)) + extra
    for row in rows[ROUNDS:]:
        assert (row["status"], row["commits"], row["votes"]) == ("open", 0, 0)
        assert row["model_cid"] is None
    rows = rows[:ROUNDS]
    for row in rows:
        r = row["round"]
        info = chain.round_info(r)
        outcome = chain.finalized_outcome(r)
        assert info.status is RoundStatus.FINALIZED and outcome is not None
        assert row["status"] == "finalized"
        assert row["commits"] == row["eligible"] == NODES
        assert row["model_cid"] == outcome.model_cid
        assert row["votes"] == len(chain.votes(r)) >= 2
        assert row["pool"] == info.contributor_pool + info.voter_pool == 1000 * TOKEN
        assert row["contributor_pool"] == info.contributor_pool
        assert row["voter_pool"] == info.voter_pool
        assert "your_reward" not in row  # no key given: nobody's reward
    # Round 2's finalized model is the latest model on chain.
    assert rows[-1]["model_cid"] == chain.latest_model_cid()


def test_rounds_table_shows_each_round_and_your_reward(demo: Demo) -> None:
    chain = demo.chain(1)
    out = ok(run_script(demo, "rounds", "--node-dir", demo.node_dir(1)))
    lines = [line for line in out.splitlines() if re.match(r"^\S\s*\d+\s", line)]
    assert len(lines) == ROUNDS + len(extra_rounds(chain)), out
    for r, line in enumerate(lines[:ROUNDS], start=1):
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        info = chain.round_info(r)
        outcome = chain.finalized_outcome(r)
        assert outcome is not None
        earned = chain.claimed_rewards().get(r, 0) + chain.voter_reward(r)
        assert cells[:7] == [
            str(r),
            "finalized",
            f"{NODES}/{NODES}",
            str(len(chain.votes(r))),
            outcome.model_cid,
            f"{(info.contributor_pool + info.voter_pool) / TOKEN:.2f}",
            f"{earned / TOKEN:.4f}",
        ]
        slashed = chain.slashes(r)
        assert cells[7] == (str(len(slashed)) if slashed else "-")
        assert cells[8].endswith(" ago")


def test_round_detail_shows_who_committed_what(demo: Demo) -> None:
    chain = demo.chain()
    commitments = chain.commitments(1)
    assert sorted(commitments) == sorted(addresses(demo))

    [row] = ok_json(run_script(demo, "rounds", "--round", "1", "--json"))
    assert row["round"] == 1
    assert row["commitments"] == commitments
    key = chain.round_info(1).outcome_key
    assert [(v["voter"], v["weight"], v["winning"]) for v in row["vote_list"]] == [
        (v.voter, v.weight, v.outcome_key == key) for v in chain.votes(1)
    ]
    assert sum(v["winning"] for v in row["vote_list"]) >= 2  # 2/3 of three equal stakes
    assert row["info"]["stake_snapshot"] == chain.round_info(1).stake_snapshot

    out = ok(run_script(demo, "rounds", "--round", "1"))
    for author, cid in commitments.items():
        assert f"{author} committed {cid}" in out
    for vote in chain.votes(1):
        assert f"{vote.voter} voted 0x{vote.outcome_id.hex()[:16]}" in out
    assert "round 2" not in out


def test_rounds_rejects_a_round_that_does_not_exist(demo: Demo) -> None:
    current = demo.chain().current_round()
    line = plain_error(run_script(demo, "rounds", "--round", "7"))
    assert line == f"error: round 7 does not exist yet (current round: {current})"


def test_claim_rejects_a_round_that_does_not_exist(demo: Demo) -> None:
    current = demo.chain().current_round()
    node = demo.node_dir(2)
    line = plain_error(run_script(demo, "claim", "--node-dir", node, "--round", "99"))
    assert line == (
        f"error: round 99 does not exist (rounds so far: 1..{current}); "
        "`fedchain rounds` lists them"
    )


# ---------------------------------------------------------------- balance.py


def test_balance_matches_the_chain(demo: Demo) -> None:
    for index in range(NODES):
        chain = demo.chain(index)
        got = ok_json(run_script(demo, "balance", "--node-dir", demo.node_dir(index), "--json"))
        info = chain.stake_info()
        assert got["address"] == chain.address
        assert got["registered"] and got["active"]
        assert got["stake"] == info.stake == 100 * TOKEN  # the demo's stake, never slashed
        assert got["unbonding"] == info.unbonding == 0
        assert got["tokens"] == chain.token_balance()
        assert got["eth"] == chain.eth_balance()
        assert got["min_stake"] == chain.params().min_stake == 10 * TOKEN
        # Funded 1000 FED, staked 100, and the node claimed its contributor rewards itself.
        claimed = sum(chain.claimed_rewards().values())
        assert claimed > 0
        assert got["tokens"] == 900 * TOKEN + claimed + voter_rewards_claimed(chain)
        assert got["unclaimed_contributor"] == 0


def test_balance_table(demo: Demo) -> None:
    chain = demo.chain(2)
    out = ok(run_script(demo, "balance", "--node-dir", demo.node_dir(2)))
    assert f"account {chain.address}" in out
    assert "stake" in out and "100 FED (active; minimum 10 FED)" in out
    wallet = f"{Decimal(chain.token_balance()) / TOKEN:f}".rstrip("0").rstrip(".")
    assert re.search(rf"FED in wallet\s*[│|]\s*{re.escape(wallet)} FED", out), out


def voter_rewards_claimed(chain: ChainClient) -> int:
    return sum(
        chain.voter_reward(r)
        for r in range(1, chain.current_round() + 1)
        if chain.vote_of(r)[2]  # claimed flag
    )


# ---------------------------------------------------------------- claim.py


def unclaimed_voter_rewards(chain: ChainClient) -> dict[int, int]:
    """round -> voter reward not yet claimed, computed from the contract's own records."""
    out = {}
    for r in range(1, chain.current_round() + 1):
        info = chain.round_info(r)
        key, weight, claimed = chain.vote_of(r)
        if info.status is RoundStatus.FINALIZED and key == info.outcome_key and not claimed:
            out[r] = info.voter_pool * weight // info.winning_weight
    return out


def test_claim_after_the_node_auto_claimed(demo: Demo) -> None:
    chain = demo.chain(0)
    node0 = demo.node_dir(0)
    # The node claimed its contributor rewards itself: nothing left.
    earned = chain.claimed_rewards()
    assert sorted(earned) == list(range(1, ROUNDS + 1))
    assert all(chain.is_claimed(r) for r in earned)
    before = chain.token_balance()
    got = ok_json(run_script(demo, "claim", "--node-dir", node0, "--no-voter", "--json"))
    assert got["message"] == "nothing to claim"
    assert got["amount"] == 0 and got["claimed"] == []
    assert chain.token_balance() == before

    # The node claimed the voter rewards of its earlier rounds too; the last round's
    # unlocks once its vote deadline passed (or the next round opened), after the node
    # stopped: it is the account's to claim by hand. Move the clock past it.
    for r in range(1, ROUNDS):
        assert chain.vote_of(r)[2], f"the node did not claim its voter reward of round {r}"
    last = chain.round_info(ROUNDS)
    now = chain.chain_time()
    if now < last.vote_deadline:
        devnet.increase_time(demo.rpc_url, last.vote_deadline - now + 1)
    due = unclaimed_voter_rewards(chain)
    assert sorted(due) == [ROUNDS]  # the node voted the winner
    assert all(amount > 0 for amount in due.values())

    out = ok(run_script(demo, "claim", "--node-dir", node0))
    total = sum(due.values())
    rounds = ", ".join(str(r) for r in sorted(due))
    assert out.strip().endswith(f"voter rewards of rounds {rounds}"), out
    assert chain.token_balance() == before + total
    assert unclaimed_voter_rewards(chain) == {}

    again = ok_json(run_script(demo, "claim", "--node-dir", node0, "--json"))
    assert again["message"] == "nothing to claim" and again["amount"] == 0
    assert chain.token_balance() == before + total
    got = ok_json(run_script(demo, "balance", "--node-dir", node0, "--json"))
    assert got["unclaimed_voter"] == 0 and got["unclaimed_contributor"] == 0


# ---------------------------------------------------------------- stake.py


def test_stake_top_up_unstake_cooldown_withdraw(demo: Demo) -> None:
    chain = demo.chain(1)
    node1 = demo.node_dir(1)
    cooldown = chain.params().unstake_cooldown
    wallet, stake = chain.token_balance(), chain.stake_info().stake

    got = ok_json(run_script(demo, "stake", "add", "12.5", "--node-dir", node1, "--json"))
    assert got["action"] == "topped up" and got["staked"] == 12_500_000_000_000_000_000
    assert chain.stake_info().stake == got["stake"] == stake + 12_500_000_000_000_000_000
    assert chain.token_balance() == wallet - 12_500_000_000_000_000_000

    out = ok(run_script(demo, "stake", "unstake", "20", "--node-dir", node1))
    assert f"requested 20 FED out of the stake; cool-down ends in {cooldown // 60} min" in out
    info = chain.stake_info()
    assert info.stake == stake + 12_500_000_000_000_000_000 - 20 * TOKEN
    assert info.unbonding == 20 * TOKEN
    assert info.unlock_at >= chain.chain_time() + cooldown - 5
    assert chain.token_balance() == wallet - 12_500_000_000_000_000_000

    # Too early: one plain line with the time left, and nothing moves.
    line = plain_error(run_script(demo, "stake", "withdraw", "--node-dir", node1))
    assert re.fullmatch(
        r"error: cool-down ends in \d+ (s|min): 20 FED can be withdrawn then", line
    ), line
    status = ok_json(run_script(demo, "stake", "status", "--node-dir", node1, "--json"))
    assert status["unbonding"] == 20 * TOKEN and status["withdrawable"] == 0
    assert 0 < status["cooldown_left"] <= cooldown
    assert chain.token_balance() == wallet - 12_500_000_000_000_000_000

    devnet.increase_time(demo.rpc_url, cooldown + 1)
    status = ok_json(run_script(demo, "stake", "status", "--node-dir", node1, "--json"))
    assert status["withdrawable"] == 20 * TOKEN and status["cooldown_left"] == 0
    out = ok(run_script(demo, "stake", "withdraw", "--node-dir", node1))
    assert "withdrew 20 FED" in out
    assert chain.token_balance() == wallet - 12_500_000_000_000_000_000 + 20 * TOKEN
    info = chain.stake_info()
    assert info.unbonding == 0 and info.stake == stake - 7_500_000_000_000_000_000

    line = plain_error(run_script(demo, "stake", "withdraw", "--node-dir", node1))
    assert line == "error: nothing to withdraw: request an unstake first"


def test_unstake_below_the_minimum_warns(demo: Demo) -> None:
    """Dropping below the minimum stake says the account stops taking part."""
    chain = demo.chain(1)
    node1 = demo.node_dir(1)
    stake = chain.stake_info().stake
    keep = 5 * TOKEN  # minimum is 10 FED
    amount = f"{Decimal(stake - keep) / TOKEN:f}".rstrip("0").rstrip(".")
    got = ok_json(run_script(demo, "stake", "unstake", amount, "--node-dir", node1, "--json"))
    assert got["requested"] == stake - keep and got["stake"] == keep and not got["active"]
    assert any("below the minimum 10 FED" in note for note in got["notes"])
    # Topping up back above the minimum reactivates it (from the next round).
    got = ok_json(run_script(demo, "stake", "add", "5", "--node-dir", node1, "--json"))
    assert got["stake"] == 10 * TOKEN and got["active"]
    assert chain.stake_info().unbonding == stake - keep


# ---------------------------------------------------------------- mistakes


def test_mistakes_print_one_plain_line(demo: Demo) -> None:
    node2 = demo.node_dir(2)
    chain = demo.chain(2)
    wallet, info = chain.token_balance(), chain.stake_info()
    nowhere = demo.root / "nowhere"
    missing = nowhere / "key.hex"
    wrong = demo.root / "wrong-password"
    wrong.write_text("not the password\n")
    cases: list[tuple[tuple[str | Path, ...], str]] = [
        (
            ("stake", "add", "5", "--private-key-file", missing),
            f"error: key file {missing} not found",
        ),
        (("balance", "--private-key-file", missing), f"error: key file {missing} not found"),
        (
            ("claim",),
            "error: no account to sign with: give --node-dir DIR (its keystore.json), "
            "--keystore FILE, or --private-key-file FILE",
        ),
        (
            ("claim", "--node-dir", nowhere),
            f"error: no keystore in {nowhere}: create one with `fedchain node init",
        ),
        (
            ("stake", "add", "5", "--node-dir", node2, "--password-file", wrong),
            f"error: cannot unlock keystore {node2 / KEYSTORE_FILE}: wrong password",
        ),
        (
            ("balance", "--keystore", nowhere / "k.json"),
            f"error: keystore {nowhere / 'k.json'} not found: create it with "
            "`fedchain account new`",
        ),
        (
            ("stake", "add", "abc", "--node-dir", node2),
            "error: amount 'abc' is not a number of FED",
        ),
        (
            ("stake", "add", "-3", "--node-dir", node2),
            "error: amount must be a positive number of FED, got -3",
        ),
        (
            ("stake", "add", "0", "--node-dir", node2),
            "error: amount must be a positive number of FED, got 0",
        ),
        (
            ("stake", "unstake", "0.0000000000000000001", "--node-dir", node2),
            "error: amount 0.0000000000000000001 has more than 18 decimals",
        ),
        (
            ("stake", "unstake", "1000", "--node-dir", node2),
            "error: cannot unstake 1000 FED: the stake is 100 FED",
        ),
        (
            ("stake", "add", "1000000", "--node-dir", node2),
            f"error: {chain.address} holds ",
        ),
        (
            ("stake", "withdraw", "--node-dir", node2),
            "error: nothing to withdraw: request an unstake first",
        ),
    ]
    for args, expected in cases:
        script, *rest = args
        line = plain_error(run_script(demo, str(script), *rest))
        assert line.startswith(expected), (args, line)
    assert chain.token_balance() == wallet
    assert chain.stake_info() == info


def test_bad_key_file_and_missing_deployment(demo: Demo) -> None:
    bad = demo.root / "bad.hex"
    bad.write_text("not a key\n")
    line = plain_error(run_script(demo, "balance", "--private-key-file", bad))
    assert line == f"error: key file {bad} must hold one 0x-prefixed 32-byte hex private key"

    nowhere = demo.root / "no-deployment.json"
    cmd = [sys.executable, str(SCRIPTS / "rounds.py"), "--deployment", str(nowhere)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=demo.root)
    assert plain_error(result).startswith(f"error: no deployment file at {nowhere}")


def test_unreachable_rpc_is_one_line(demo: Demo) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_script(demo, "rounds", "--rpc-url", url)
    line = plain_error(result)
    assert url in line, line


# ---------------------------------------------------------------- last: a third round


def test_a_voter_reward_is_locked_until_the_vote_deadline(demo: Demo) -> None:
    """A round driven by hand: node2's voter reward waits for the vote deadline.

    Runs last: it opens a round, which changes what the other tests see.
    """
    nodes = [demo.chain(i) for i in range(NODES)]
    first = nodes[0].current_round() + 1
    open_round = nodes[0].round_info(first - 1)
    if open_round.status is RoundStatus.OPEN:  # the demo's extra round: let it expire
        now = nodes[0].chain_time()
        if now < open_round.vote_deadline:
            devnet.increase_time(demo.rpc_url, open_round.vote_deadline - now + 1)
    assert nodes[0].advance()
    r = nodes[0].current_round()
    assert r == first
    model = cid_from_bytes(b"\x01\x55\x12\x20" + bytes([r]) * 32)
    for i, chain in enumerate(nodes):
        chain.commit(r, cid_from_bytes(b"\x01\x55\x12\x20" + bytes([i + 1]) * 32))
    for chain in nodes:
        chain.submit_outcome(r, model, b"\x00" * 32, [])
    chain = nodes[2]
    info = chain.round_info(r)
    assert info.status is RoundStatus.FINALIZED
    due = unclaimed_voter_rewards(chain)
    assert r in due and due[r] > 0
    before = chain.token_balance()

    got = ok_json(run_script(demo, "claim", "--node-dir", demo.node_dir(2), "--json"))
    [note] = got["notes"]
    # the vote window is 60 s: "60 s" reads "1 min" when no second has passed on chain
    assert re.fullmatch(rf"voter reward of round {r} \(.+ FED\) unlocks in (\d+ s|1 min)", note), (
        note
    )
    assert got["voter_claimed"] == sorted(set(due) - {r})
    assert got["amount"] == sum(a for k, a in due.items() if k != r)
    assert chain.token_balance() == before + got["amount"]

    devnet.increase_time(demo.rpc_url, info.vote_deadline - chain.chain_time() + 1)
    got = ok_json(run_script(demo, "claim", "--node-dir", demo.node_dir(2), "--json"))
    assert got["voter_claimed"] == [r] and got["notes"] == []
    assert got["amount"] == due[r]
    assert chain.token_balance() == before + sum(due.values())
    rows = ok_json(run_script(demo, "rounds", "--json"))
    failed = ["failed"] * (r - ROUNDS - 1)  # the demo's extra round, if any
    assert [row["status"] for row in rows] == ["finalized"] * ROUNDS + failed + ["finalized"]
    assert rows[-1]["model_cid"] == model
