"""Real fedchain nodes on a fresh devnet, for bench/vs_flower.py and bench/utilization.py.

A fresh anvil devnet on a free port in a temp dir, the contracts deployed, ``nodes``
funded node processes (the demo's ``prepare_nodes``/``start_node``), run until every node
recorded ``rounds`` rounds. While they run, the driver polls the nodes' status.json and
notes when every node has recorded round r: the interval between two such instants is the
round's cycle time as an observer sees it (training, every phase and the wait for the
next round to open), the figure comparable to a central server's round time.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN = 10**18
ROUND_TIMEOUT = 240.0
POLL_S = 0.1


@dataclass
class NodesRun:
    statuses: list[dict[str, Any]]
    all_recorded_at: dict[int, float]  # round -> monotonic instant every node had recorded it
    started_at: float
    seconds_total: float
    load_avg: dict[str, list[float]] = field(default_factory=dict)


def records_of(status: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(r["round"]): r for r in status.get("records", [])}


def cycle_seconds(all_recorded_at: dict[int, float], first: int = 2) -> list[float]:
    """Seconds between consecutive all-recorded instants, for rounds ``first``.. (round 1
    also carries the nodes' start-up)."""
    rounds = sorted(all_recorded_at)
    return [
        all_recorded_at[r] - all_recorded_at[r - 1]
        for r in rounds
        if r >= first and r - 1 in all_recorded_at
    ]


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_nodes(
    task: str,
    nodes: int,
    rounds: int,
    *,
    epochs: int = 1,
    extra_env: dict[str, str] | None = None,
    update_codec: str | None = None,
    staleness: int = 0,
) -> NodesRun:
    """Run ``nodes`` real nodes for ``rounds`` rounds of ``task``, deployed with
    ``update_codec`` (None: the default) and ``staleness`` (0: no overlap); RuntimeError
    if one exits or the rounds are not done in time."""
    from rich.console import Console

    from node.chain import devnet
    from node.chain.deploy import DeployParams, fund_accounts
    from node.demo.processes import NodeProcess, start_node, stop_all
    from node.demo.run import DemoOptions, all_done, prepare_nodes
    from node.operator.deploy import DeployRequest
    from node.operator.devnet import deployment_path, devnet_up
    from tests.integration.ports import free_port

    with tempfile.TemporaryDirectory(prefix="fedchain-bench-") as tmp:
        opts = DemoOptions(
            nodes=nodes, rounds=rounds, task=task, data_root=Path(tmp), epochs=epochs
        )
        params = DeployParams(commit_window=120, vote_window=60, min_participants=nodes)
        procs: list[NodeProcess] = []
        seen: dict[int, float] = {}
        loads = {"start": load_avg()}
        started = time.monotonic()
        try:
            net, deployment = devnet_up(
                opts.devnet_dir,
                free_port(),
                Console(quiet=True),
                task,
                params,
                request=DeployRequest(
                    task=task,
                    update_codec=update_codec,
                    **({"staleness": staleness} if staleness else {}),  # type: ignore[arg-type]
                ),
                accounts=nodes + 1,
                show_accounts=0,
            )
            keys = net.accounts[1 : nodes + 1]
            fund_accounts(
                net.rpc_url, deployment, net.accounts[0][1], [a for a, _ in keys], 1000 * TOKEN
            )
            configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
            for index, (address, config) in enumerate(configs):
                procs.append(start_node(index, address, config.parent, config, extra_env))
            deadline = time.monotonic() + ROUND_TIMEOUT * rounds + 60
            while time.monotonic() < deadline and not all_done(procs, rounds):
                dead = [n for n in procs if not n.running()]
                if dead:
                    raise RuntimeError(f"node {dead[0].index} exited:\n{dead[0].log_tail(20)}")
                _note_rounds([n.status() for n in procs], seen, rounds)
                time.sleep(POLL_S)
            if not all_done(procs, rounds):
                raise RuntimeError(f"{task}: {rounds} rounds not done in time")
            statuses = [n.status() for n in procs]
            _note_rounds(statuses, seen, rounds)
            loads["end"] = load_avg()
        finally:
            stop_all(procs)
            devnet.down(opts.devnet_dir)
        elapsed = time.monotonic() - started
    return NodesRun(statuses, seen, started, round(elapsed, 1), loads)


def _note_rounds(statuses: list[dict[str, Any]], seen: dict[int, float], rounds: int) -> None:
    now = time.monotonic()
    recorded = [set(records_of(s)) for s in statuses]
    for r in range(1, rounds + 1):
        if r not in seen and all(r in rs for rs in recorded):
            seen[r] = now
