"""Orchestrates the demo: devnet, deployment, funded nodes, live table, report."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import Progress

from node.attacks import get_attack
from node.attacks.simulation import load_simulation
from node.chain import devnet
from node.chain.client import ChainClient
from node.chain.deploy import Deployment, DeployParams, fund_accounts
from node.config import load_config
from node.demo.baseline import simulate_rule
from node.demo.explorer import ExplorerProcess, close_explorer, open_explorer, stop_leftover
from node.demo.options import DemoOptions, check_options, mark_demo_dir
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.report import (
    byzantine_reward_share,
    chain_stop_rule,
    committed_rounds,
    node_summaries,
    plot_accuracy,
    plot_phases,
    plot_rewards,
    round_rows,
    verdict,
    write_report,
)
from node.demo.table import progress_table
from node.errors import FedchainError
from node.learning.local import accuracy_of, genesis_params
from node.learning.partition import SPLIT_SEED, train_test_split
from node.learning.tasks import get_task
from node.operator.deploy import DeployRequest
from node.operator.devnet import deployment_path as deployment_path_of
from node.operator.devnet import devnet_up
from node.privacy.report import privacy_per_node
from node.store.cid import compute_cid
from node.update.codec import encode_model

TOKEN = 10**18
MAX_BYZANTINE_SHARE = 0.05


def node_config_text(index: int, opts: DemoOptions, deployment: Path) -> str:
    # [simulation] first: callers append [node] keys to this text
    return f"""# fedchain node {index} (written by `fedchain demo`)
{_simulation_table(index, opts)}[node]
data_dir = "."
deployment = "{deployment}"
key_file = "key.hex"
task = "{opts.task}"
partition_index = {index}
partition_count = {opts.nodes}
data_seed = {index}
epochs = {opts.epochs}
stake = {100 * TOKEN}
max_rounds = {opts.rounds}
linger = true
rule = "{opts.rule}"
byzantine_f = {opts.byzantine}
partition = "{f"dirichlet:{opts.alpha}" if opts.alpha > 0 else "iid"}"
"""


def _simulation_table(index: int, opts: DemoOptions) -> str:
    """An attacker's [simulation] table (read by its entry point, python -m node.attacks)."""
    if not opts.attack_of(index):
        return ""
    return f"""[simulation]
attack = "{opts.attack_of(index)}"
attack_group = {list(opts.attack_group(index))}

"""


def prepare_nodes(
    opts: DemoOptions, deployment_path: Path, keys: list[tuple[str, str]]
) -> list[tuple[str, Path]]:
    configs = []
    for index, (address, key) in enumerate(keys):
        home = opts.nodes_dir / f"node{index}"
        home.mkdir(parents=True, exist_ok=True)
        key_file = home / "key.hex"
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        config = home / "config.toml"
        config.write_text(node_config_text(index, opts, deployment_path.resolve()))
        configs.append((address, config))
    return configs


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def all_done(nodes: list[NodeProcess], rounds: int) -> bool:
    return all(_node_done(n.status(), rounds) for n in nodes)


def _node_done(status: dict[str, Any], rounds: int) -> bool:
    """``rounds`` recorded, or the chain's stop rule finished the deployment earlier
    (--target-accuracy, --patience: the node says so in its status and stops)."""
    finished = str(status.get("phase", "")).startswith("finished")
    return finished or len(status.get("records", [])) >= rounds


def run_demo(opts: DemoOptions, console: Console) -> int:
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C so every started process is stopped
    signal.signal(signal.SIGTERM, _raise_interrupt)
    check_options(opts)  # again: callers in code skip the CLI's check
    task = get_task(opts.task)
    genesis = genesis_params(task)
    genesis_cid = compute_cid(encode_model(genesis))
    console.print(f"task {task.name}: {opts.nodes} nodes, {opts.rounds} rounds")
    _, test = train_test_split(task.load_all(), SPLIT_SEED)
    genesis_accuracy = accuracy_of(task, genesis, test)

    stop_leftover(opts.nodes_dir)  # an earlier demo's explorer, on the chain replaced now
    devnet.down(opts.devnet_dir)  # a demo always starts from a fresh chain: its own
    shutil.rmtree(opts.nodes_dir, ignore_errors=True)  # checked: made by an earlier demo
    mark_demo_dir(opts)
    params = DeployParams(
        min_stake=10 * TOKEN,
        commit_window=opts.commit_window,
        vote_window=opts.vote_window,
        reward_per_round=1000 * TOKEN,
        min_participants=opts.nodes,
        committee_size=opts.committee_size,
    )
    request = DeployRequest(
        task=opts.task,
        rule=opts.rule,
        byzantine_f=opts.byzantine,
        algorithm=opts.algorithm,
        prox_mu=opts.prox_mu,
        dp=opts.dp,
        dp_clip=opts.dp_clip,
        dp_noise=opts.dp_noise,
        update_codec=opts.update_codec,
        staleness=opts.staleness,
        # the chain's stop rule ends the demo: its last round is the last finalized one
        target_accuracy=opts.target_accuracy or None,
        patience=opts.patience or None,
        max_rounds=opts.rounds if opts.chain_round_cap else None,
    )
    net, deployment = devnet_up(
        opts.devnet_dir,
        opts.port,
        console,
        params=params,
        request=request,
        accounts=opts.nodes + 1,
        show_accounts=0,
    )
    deployment_path = deployment_path_of(opts.devnet_dir)
    deployer = net.accounts[0]
    keys = net.accounts[1 : opts.nodes + 1]
    fund_accounts(net.rpc_url, deployment, deployer[1], [a for a, _ in keys], 1000 * TOKEN)
    console.print(f"genesis model {genesis_cid} (accuracy {genesis_accuracy:.3f})")
    observer = ChainClient(net.rpc_url, deployment, deployer[1])
    nodes: list[NodeProcess] = []
    explorer: ExplorerProcess | None = None
    started = time.monotonic()
    try:
        for index, (address, config) in enumerate(prepare_nodes(opts, deployment_path, keys)):
            nodes.append(start_node(index, address, config.parent, config))
        deadline = started + opts.timeout_per_round * opts.rounds + 60
        quorum_lowered = opts.byzantine == 0
        with Live(
            progress_table(opts, observer, nodes, started), console=console, refresh_per_second=2
        ) as live:
            while time.monotonic() < deadline and not all_done(nodes, opts.rounds):
                if any(not n.running() for n in nodes):
                    break  # a node died: report it rather than wait for the deadline
                if opts.explorer and explorer is None:
                    explorer = open_explorer(opts, deployment_path, net.rpc_url, nodes, console)
                if not quorum_lowered and observer.current_round() >= 1:
                    # Round 1 waited for every node; from now on the honest nodes alone
                    # may open rounds, so attackers slashed below the minimum stake (and
                    # deactivated) cannot stall the network.
                    observer.set_param("min_participants", max(1, opts.nodes - opts.byzantine))
                    quorum_lowered = True
                time.sleep(1.0)
                url = explorer.url if explorer else ""
                live.update(progress_table(opts, observer, nodes, started, url))
        console.print()
        for node in nodes:
            if not node.running() and node.process.returncode != 0:
                console.print(
                    f"[red]node {node.index} exited {node.process.returncode}:[/]\n"
                    f"{node.log_tail()}"
                )
        caught_up = explorer is None or explorer.catch_up(
            finalized_rounds(observer, opts.rounds), {n.address for n in nodes}
        )
        if not caught_up:
            console.print("[yellow]the explorer had not indexed every round's records[/]")
        # Nodes serve each other's blobs: stop them only once every node has finished.
        stop_all(nodes)
        return finish(opts, console, observer, deployment, nodes, genesis_accuracy, started)
    finally:
        stop_all(nodes)
        if explorer is not None:
            close_explorer(opts, explorer, console)
        if opts.stop_devnet:
            devnet.down(opts.devnet_dir)
            console.print(
                "node processes and devnet stopped; `fedchain devnet up --data-dir "
                f"{opts.devnet_dir}` restarts the chain with its state"
            )
        else:
            deployment_file = deployment_path_of(opts.devnet_dir)
            console.print(
                "node processes stopped; the devnet keeps running for inspection "
                f"(`fedchain rounds --deployment {deployment_file}`; "
                f"`fedchain devnet down --data-dir {opts.devnet_dir}` stops it)"
            )


def finalized_rounds(chain: ChainClient, rounds: int) -> set[int]:
    out = set()
    for r in range(1, min(rounds, chain.current_round()) + 1):
        if chain.round_info(r).status.name == "FINALIZED":
            out.add(r)
    return out


def _sends_invalid(attack: str) -> bool:
    return bool(attack) and get_attack(attack).kind == "invalid"


def fedavg_baseline(
    opts: DemoOptions, nodes: list[NodeProcess], console: Console
) -> list[float] | None:
    """Accuracy per round of plain FedAvg under the same attack (simulated; see baseline.py),
    for runs where a robust rule faces attackers."""
    if not opts.byzantine or opts.rule == "fedavg":
        return None
    paths = [n.data_dir / "config.toml" for n in nodes]
    configs = [load_config(path, environ={}) for path in paths]
    sims = [
        load_simulation(path, cfg, environ={}) for path, cfg in zip(paths, configs, strict=True)
    ]
    with Progress(console=console, transient=True) as progress:
        job = progress.add_task("FedAvg under the same attack (simulated)", total=opts.rounds)
        return simulate_rule(
            list(zip(configs, sims, strict=True)),
            opts.rounds,
            "fedavg",
            lambda r: progress.update(job, completed=r),
            training=Deployment.load(configs[0].deployment).training,
        )


def finish(
    opts: DemoOptions,
    console: Console,
    chain: ChainClient,
    deployment: Deployment,
    nodes: list[NodeProcess],
    genesis_accuracy: float,
    started: float,
) -> int:
    statuses = {n.address: n.status() for n in nodes}
    finalized: dict[int, str | None] = {}
    slashed: dict[int, dict[str, int]] = {}
    for r in range(1, opts.rounds + 1):
        try:
            outcome = chain.finalized_outcome(r)
        except FedchainError:
            outcome = None
        finalized[r] = outcome.model_cid if outcome else None
        slashed[r] = chain.slashes(r) if outcome else {}
    rows = round_rows(opts.rounds, statuses, finalized, slashed)
    stop_rule = chain_stop_rule(chain, rows)  # and each row's agreed metric
    roles = {n.address: opts.role(n.index) for n in nodes}
    attacks = {n.address: opts.attack_of(n.index) for n in nodes if opts.attack_of(n.index)}
    summaries = node_summaries(roles, statuses, rows)
    indices = {n.address: n.index for n in nodes}
    for summary in summaries:
        summary["attack"] = attacks.get(summary["address"], "")
        summary["index"] = indices[summary["address"]]
    share = byzantine_reward_share(summaries)
    honest = {a for a, role in roles.items() if role == "honest"}
    limit = MAX_BYZANTINE_SHARE if opts.byzantine else None
    invalid = {
        n.address: committed_rounds(statuses[n.address])
        for n in nodes
        if _sends_invalid(opts.attack_of(n.index))
    }
    end = chain.deployment_end()
    expected = end.round if end is not None and end.round < opts.rounds else opts.rounds
    if expected < opts.rounds:
        console.print(f"the chain's stop rule finished the deployment at round {expected}")
    problems = verdict(
        rows, genesis_accuracy, expected, honest, limit, share, must_be_slashed=invalid
    )
    report: dict[str, Any] = {
        "ok": not problems,
        "problems": problems,
        "options": {"nodes": opts.nodes, "byzantine": opts.byzantine, "attack": opts.attack,
                    "rule": opts.rule, "alpha": opts.alpha, "task": opts.task,
                    "collude": opts.collude},
        "genesis_accuracy": genesis_accuracy,
        "seconds": round(time.monotonic() - started, 1),
        "deployment": str(deployment_path_of(opts.devnet_dir).resolve()),
        "byzantine_reward_share": share,
        "attacks": attacks,
        "nodes": summaries,
        "rounds": rows,
        "stop_rule": stop_rule,
    }  # fmt: skip
    if opts.dp != "off":
        report["privacy"] = privacy_per_node(statuses)  # epsilon per node per round
    baseline = fedavg_baseline(opts, nodes, console)
    if baseline is not None:
        report["baseline"] = {"rule": "fedavg", "simulated": True, "accuracy": baseline}
    write_report(opts.out, report)
    plot_accuracy(opts.out, rows, genesis_accuracy, opts.rule, baseline)
    plot_rewards(opts.out, summaries)
    plot_phases(opts.out, summaries)
    for problem in problems:
        console.print(f"[red]✗ {problem}[/]")
    if not problems:
        console.print(
            f"[green]✓ {opts.rounds} rounds finalized, honest nodes agree, accuracy "
            f"{genesis_accuracy:.3f} → {rows[-1]['accuracy']:.3f} "
            f"in {report['seconds']}s[/]"
        )
    if opts.byzantine:
        console.print(f"Byzantine nodes earned {share:.1%} of the rewards")
        lost = sum(int(n["slashed"]) for n in summaries if n["role"] == "byzantine")
        console.print(f"Byzantine stake slashed: {lost / TOKEN:g} FED")
    console.print(
        f"report: {opts.out / 'report.json'}; plots: accuracy.png, rewards.png, phases.png"
    )
    return 0 if not problems else 1
