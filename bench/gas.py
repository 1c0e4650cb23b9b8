"""Gas per coordinator call and per participant per round, on a real anvil.

Runs two rounds with 4, 16 and 64 participants (a fresh deployment each) and prints one
JSON line: gas of stake (register, top-up), commit, submitOutcome (non-finalizing,
finalizing without and with slashes: n/4 committers, at most MAX_SLASH = 16, so the
64-participant run measures a finalizing vote with the longest slash list the contract
accepts: ``finalize_max_slash``), claim, claimMany per round, claimVoterReward, sweep
(after the claim period), requestUnstake and withdraw, plus gas per participant per round,
the budgets of issue 3 checked against the measurements, and the ratio of the 64- to the
4-participant finalization (it must not grow with the number of participants).

Committees (issue 13): with 32 participants, the `advance()` that opens a round with
K = 8 drawn members and with K = 0 (everyone; rounds 1 and 2 each, the larger), and
commit, submitOutcome and the finalizing vote by members of a drawn committee.

    .venv/bin/python bench/gas.py [--sizes 4,16,64] [--committee 32:8] [--port N]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account  # noqa: E402

from node.chain import devnet  # noqa: E402
from node.chain.client import ChainClient, RoundStatus  # noqa: E402
from node.chain.deploy import TOKEN, DeployParams, deploy, fund_accounts  # noqa: E402
from node.chain.merkle import build_reward_tree  # noqa: E402
from node.types import cid_from_bytes  # noqa: E402

BUDGET = {
    "commit": 60_000,
    # a member's commit in a round with a drawn committee reads one more cold slot (its
    # last draw: 2.1k)
    "commit_member": 63_000,
    "submit_outcome": 90_000,
    "finalize_base": 150_000,
    # issue 3 had 25k; since issue 13 each slash also updates the stake tree the
    # committees are drawn from (O(log n) slots: about 9k at 64 participants)
    "finalize_per_slash": 32_000,
    "claim": 90_000,
}
MAX_FINALIZE_GROWTH = 1.05  # 64 vs 4 participants
MAX_SLASH = 16  # FedCoordinator.MAX_SLASH
CLAIM_PERIOD = 3600
PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def cid(label: str) -> str:
    import hashlib

    return cid_from_bytes(b"\x01\x55\x12\x20" + hashlib.sha256(label.encode()).digest())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def last_tx_gas(chain: ChainClient) -> int:
    """Gas of the latest block's transaction (anvil mines one transaction per block)."""
    block = chain.w3.eth.get_block("latest")
    return gas(chain.w3.eth.get_transaction_receipt(block["transactions"][-1]))


def _participants(
    net: devnet.Devnet, workdir: Path, n: int, params: DeployParams, tag: int
) -> list[ChainClient]:
    """Deploy with ``params`` and register ``n`` fresh accounts at twice the minimum stake."""
    deployer_key = net.accounts[0][1]
    deployment = deploy(
        net.rpc_url, deployer_key, cid("genesis"), "bench", params, workdir / "d.json"
    )
    keys = [Account.from_key(bytes([tag]) + i.to_bytes(31, "big")) for i in range(1, n + 1)]
    for account in keys:
        devnet.rpc_call(net.rpc_url, "anvil_setBalance", [account.address, hex(10**20)])
    fund_accounts(net.rpc_url, deployment, deployer_key, [a.address for a in keys], 100 * TOKEN)
    nodes = [ChainClient(net.rpc_url, deployment, a.key.to_0x_hex()) for a in keys]
    for node in nodes:
        node.ensure_registered(2 * params.min_stake, PEER, ["/ip4/127.0.0.1/tcp/4001"])
    return nodes


def run_committee(net: devnet.Devnet, workdir: Path, n: int, k: int) -> dict[str, Any]:
    """Opening gas with K = ``k`` of ``n`` and K = 0; member commit and vote gas."""
    out: dict[str, Any] = {"participants": n, "committee": k}
    for size, tag in ((k, 200), (0, 201)):
        params = DeployParams(
            min_stake=10 * TOKEN,
            commit_window=600,
            vote_window=600,
            min_participants=n,
            late_vote_grace=0,
            committee_size=size,
        )
        sub = workdir / f"k{size}"
        sub.mkdir()
        nodes = _participants(net, sub, n, params, tag)
        by_address = {node.address: node for node in nodes}
        opens, commits, votes, finalizing = [], [], [], 0
        for r in (1, 2):
            assert nodes[0].advance() is True
            opens.append(last_tx_gas(nodes[0]))
            drawn = nodes[0].committee(r)
            members = [by_address[a] for a in drawn] if drawn is not None else nodes
            assert len(members) == (size or n), f"round {r}: {len(members)} members"
            commits += [gas(m.commit(r, cid(f"{r}-{m.address}"))) for m in members]
            for m in members:
                before = m.round_info(r).status
                used = gas(m.submit_outcome(r, cid(f"model-{r}"), bytes(32), []))
                if before is RoundStatus.OPEN and m.round_info(r).status is RoundStatus.FINALIZED:
                    finalizing = max(finalizing, used)
                else:
                    votes.append(used)
            # every member voted: no late-vote grace, the next round opens at once
        key = "everyone" if size == 0 else "sampled"
        out[f"advance_open_{key}"] = max(opens)
        out[f"commit_{key}"] = max(commits)
        out[f"submit_outcome_{key}"] = max(votes)
        out[f"finalize_{key}"] = finalizing
    out["advance_open_extra"] = out["advance_open_sampled"] - out["advance_open_everyone"]
    return out


def run_size(net: devnet.Devnet, workdir: Path, n: int, slashed: int) -> dict[str, Any]:
    """Deploy, register ``n`` participants, run two rounds, claim; return gas figures."""
    deployer_key = net.accounts[0][1]
    stake = 10 * TOKEN
    params = DeployParams(
        min_stake=stake,
        commit_window=600,
        vote_window=600,
        reward_per_round=1000 * TOKEN,
        min_participants=n,
        unstake_cooldown=60,
        claim_period=CLAIM_PERIOD,
        treasury=10_000 * TOKEN,
    )
    deployment = deploy(
        net.rpc_url, deployer_key, cid("genesis"), "bench", params, workdir / "d.json"
    )
    keys = [Account.from_key(bytes([n]) + i.to_bytes(31, "big")) for i in range(1, n + 1)]
    for account in keys:
        devnet.rpc_call(net.rpc_url, "anvil_setBalance", [account.address, hex(10**20)])
    fund_accounts(net.rpc_url, deployment, deployer_key, [a.address for a in keys], 100 * TOKEN)
    nodes = [ChainClient(net.rpc_url, deployment, a.key.to_0x_hex()) for a in keys]

    register = []
    for node in nodes:
        node.ensure_registered(2 * stake, PEER, ["/ip4/127.0.0.1/tcp/4001"])
        register.append(last_tx_gas(node))
    top_up = gas(nodes[0].stake(TOKEN))  # the receipt of stake(), after its approve

    out: dict[str, Any] = {"participants": n, "register": max(register), "stake_top_up": top_up}
    pool = deployment.contributor_pool_per_round
    per_round: list[int] = []
    trees = {}
    for r, slash_count in ((1, 0), (2, slashed)):
        assert nodes[0].advance() is True
        assert nodes[0].current_round() == r
        commits = [gas(node.commit(r, cid(f"{r}-{node.address}"))) for node in nodes]
        amounts = {node.address: pool // n for node in nodes}
        tree = build_reward_tree(r, amounts)
        trees[r] = tree
        # Slash the last participants (committers whose updates were invalid); they still
        # vote, after the others, so the finalizing vote is an honest one.
        slash = [node.address for node in nodes[n - slash_count :]] if slash_count else []
        votes: list[int] = []
        finalizing = 0
        for node in nodes:
            before = node.round_info(r).status
            used = gas(node.submit_outcome(r, cid(f"model-{r}"), tree.root, slash))
            if before is RoundStatus.OPEN and node.round_info(r).status is RoundStatus.FINALIZED:
                finalizing = used
            else:
                votes.append(used)
        assert finalizing, f"round {r} did not finalize"
        key = "finalize" if slash_count == 0 else f"finalize_slash_{slash_count}"
        out[key] = finalizing
        out.setdefault("commit", 0)
        out["commit"] = max(out["commit"], max(commits))
        # A vote's calldata and outcome id grow with its slash list: the budget is for a
        # vote without one (round 1); round 2's votes carry the slash list.
        out["submit_outcome" if slash_count == 0 else f"submit_outcome_slash_{slash_count}"] = max(
            votes
        )
        per_round.append(sum(commits) + sum(votes) + finalizing)

    claims = [
        gas(node.claim(1, trees[1].amount(node.address), trees[1].proof(node.address)))
        for node in nodes[: n - slashed]
    ]
    many_node = nodes[-1]  # claims rounds 1 and 2 in one transaction
    rounds = [1, 2]
    many = gas(
        many_node.claim_many(
            rounds,
            [trees[r].amount(many_node.address) for r in rounds],
            [trees[r].proof(many_node.address) for r in rounds],
        )
    )
    # Round 2's votes are final once its vote deadline passed.
    devnet.increase_time(net.rpc_url, 1300)
    voter = [gas(node.claim_voter_reward(1)) for node in nodes[:4]]
    unstake = gas(nodes[0].request_unstake(TOKEN))
    devnet.increase_time(net.rpc_url, 61)
    withdraw = gas(nodes[0].withdraw())
    # Round 2's unclaimed contributor rewards go back to the treasury after its claims end.
    devnet.increase_time(net.rpc_url, CLAIM_PERIOD)
    sweep = gas(nodes[0].sweep(2))
    out.update(
        sweep=sweep,
        claim=max(claims),
        claim_many_per_round=many // len(rounds),
        claim_voter_reward=max(voter),
        request_unstake=unstake,
        withdraw=withdraw,
        # commit + submitOutcome + claim, averaged over the participants of round 1
        per_participant_round=(per_round[0] + sum(claims) + many // 2) // n,
    )
    return out


def check(
    runs: dict[int, dict[str, Any]], slashed: dict[int, int], committee: dict[str, Any] | None
) -> dict[str, Any]:
    failures = []
    if committee is not None:
        for key, budget in (("sampled", "commit_member"), ("everyone", "commit")):
            if committee[f"commit_{key}"] > BUDGET[budget]:
                failures.append(f"committee: commit ({key}) {committee[f'commit_{key}']}")
            if committee[f"submit_outcome_{key}"] > BUDGET["submit_outcome"]:
                failures.append(
                    f"committee: submitOutcome ({key}) {committee[f'submit_outcome_{key}']}"
                )
    for n, run in runs.items():
        if run["commit"] > BUDGET["commit"]:
            failures.append(f"n={n}: commit {run['commit']}")
        if run["submit_outcome"] > BUDGET["submit_outcome"]:
            failures.append(f"n={n}: submitOutcome {run['submit_outcome']}")
        if run["finalize"] > BUDGET["finalize_base"]:
            failures.append(f"n={n}: finalize {run['finalize']}")
        k = slashed[n]
        if (
            k
            and run[f"finalize_slash_{k}"]
            > BUDGET["finalize_base"] + k * BUDGET["finalize_per_slash"]
        ):
            failures.append(f"n={n}: finalize with {k} slashed {run[f'finalize_slash_{k}']}")
        if max(run["claim"], run["claim_many_per_round"]) > BUDGET["claim"]:
            failures.append(f"n={n}: claim {run['claim']}")
    small, large = min(runs), max(runs)
    ratio = runs[large]["finalize"] / runs[small]["finalize"]
    if ratio > MAX_FINALIZE_GROWTH:
        failures.append(f"finalize grows {ratio:.3f}x from {small} to {large} participants")
    return {"finalize_ratio": round(ratio, 4), "ok": not failures, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,16,64", help="participant counts")
    parser.add_argument(
        "--committee",
        default="32:8",
        help="N:K participants and committee size of the committee run ('' to skip)",
    )
    parser.add_argument("--port", type=int, default=0, help="anvil port (default: a free one)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    committee_nk = [int(x) for x in args.committee.split(":")] if args.committee else None
    committee = None
    with tempfile.TemporaryDirectory(prefix="fedchain-gas-") as tmp:
        root = Path(tmp)
        net = devnet.up(root / "devnet", port=args.port or free_port())
        try:
            runs = {}
            slashed = {n: min(MAX_SLASH, max(1, n // 4)) for n in sizes}
            for n in sizes:
                workdir = root / f"n{n}"
                workdir.mkdir()
                runs[n] = run_size(net, workdir, n, slashed[n])
            if committee_nk is not None:
                workdir = root / "committee"
                workdir.mkdir()
                committee = run_committee(net, workdir, *committee_nk)
        finally:
            devnet.down(root / "devnet")
    result: dict[str, Any] = {
        "bench": "gas",
        "budgets": BUDGET,
        "runs": {str(n): runs[n] for n in sizes},
    }
    longest = max(sizes, key=lambda n: slashed[n])
    if slashed[longest] == MAX_SLASH:
        result["finalize_max_slash"] = {
            "participants": longest,
            "slashed": MAX_SLASH,
            "gas": runs[longest][f"finalize_slash_{MAX_SLASH}"],
            "budget": BUDGET["finalize_base"] + MAX_SLASH * BUDGET["finalize_per_slash"],
        }
    if committee is not None:
        result["committee"] = committee
    result.update(check(runs, slashed, committee))
    print(json.dumps(result, separators=(",", ":")))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
