"""Round time, fetches and agreement as the network grows, with per-round committees.

For each N of ``--nodes`` (same task, K = ``--committee``, same windows): the demo driver
(``node.demo.run.run_demo``: a fresh anvil devnet in a temp dir, the contracts deployed
with ``committeeSize`` K, N funded node processes, epochs 1, OMP_NUM_THREADS=1) runs
``--rounds`` rounds; then the bench reads the chain and every node's status.json.
K = 0 means everyone takes part in every round (today's behaviour). Prints ONE JSON line;
per N (under ``runs``):

* ``mean_round_s``: a selected node's round wall time = sum of its record's ``timings``
  (train_commit ... claim_evaluate), averaged over the selected nodes' records of rounds
  2.. (round 1 also waits for the slowest process start-up; ``*_incl_round1`` keeps it);
  ``phase_mean_s``: each phase's mean over the same records; ``cycle_s``: chain time
  between two finalizations (finalized_at of the last round minus the first, over
  rounds - 1; with one round, open to finalization), so the time between rounds counts;
* ``fetches_per_node_round``: update fetches (the nodes' ``fetch_seconds_count``
  metric) per node per round, mean and max over nodes; ``fetches_per_member_round``: all
  fetches over the (node, round) pairs drawn into the committee (at most K - 1: observers
  fetch no update); ``fetch_retries_per_node_round``;
* ``gossip_in_per_node_round``: gossip message copies a node received (its own and
  duplicates included: the ``gossip.in.messages`` counter) per round, mean and max over
  nodes; a node subscribes to announcements only while on a round's committee;
  ``gossip_duplicates_in_per_node_round`` (copies of a message already seen:
  ``gossip.in.duplicates``) and ``gossip_relay_skipped_per_node_round`` (messages delivered
  but not forwarded, i.e. pushes: ``gossip.relay_skipped``);
* ``yamux_frames_out_per_node_round`` / ``yamux_window_updates_per_node_round``: yamux
  frames a node sent per round (start-up included), and how many of them were window
  updates (each frame is a Noise message and a send: the p2p stack's cost per frame);
* ``rounds_finalized`` / ``rounds_total`` (read from the chain), ``committee_per_round``
  (members from CommitteeSelected, N when the round had no committee);
* ``agreement``: in every round every selected node computed (and voted) the chain's
  finalized model CID, and every node, selected or not, recorded it as finalized;
  ``agreed`` per round as "computed the finalized CID / selected";
  ``abstained_per_round`` (members that lacked an update others verified and abstained:
  no split, the round still agreed by vote) and ``members_voting_another_outcome`` (a split);
* ``peak_rss_mb_max`` / ``_mean``: VmHWM of each node process (pid from its status.json),
  sampled every second while it runs; ``cpu_busy``: node processes' CPU time over
  wall time times CPUs.

* ``cpu_s_per_member_round`` / ``cpu_s_per_observer_round``: CPU seconds (utime + stime
  from /proc) a node process spent per round, between the moments its records of rounds
  r - 1 and r appeared (rounds 2..: start-up excluded, the time between rounds included),
  mean over (node, round) pairs by the node's role in round r; ``cpu_s_per_round_anvil``
  the same for anvil (between the rounds every node had recorded), and
  ``cpu_s_per_round_nodes`` all node processes together. CPU seconds hold up on a shared
  machine where wall times do not: they explain the growth (K members, N - K observers).
* ``counters_per_member_round`` / ``counters_per_observer_round``: the same split for the
  nodes' counters (sampled with the records): chain reads by kind
  (``chain_reads_total{read=...}``), dials, committee entries, yamux frames, gossip
  messages and control, fetches: where a role's chain reads and p2p work go.

``growth_32_over_8`` = mean_round_s(32) / mean_round_s(8) (null unless both ran);
``cycle_growth_32_over_8`` the same for cycle_s. A failed N reports its ``error`` and the
bench goes on with the next.

The windows are generous by default so that 32 node processes fit a 2-core machine: a
round closes early once the committee has committed, and finalizes as soon as 2/3 of the
selected stake voted one outcome, so long windows cost nothing unless a node is late.

    .venv/bin/python bench/scale.py --nodes 8,16,32 --committee 8 --rounds 3
    .venv/bin/python bench/scale.py --nodes 4,8 --committee 0 --rounds 2   # everyone
    .venv/bin/python bench/scale.py --nodes 4 --committee 2 --rounds 1 --commit-window 60
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EPOCHS = 1
COMMIT_WINDOW = 180  # s: 32 processes on 2 cores train, commit and notice the close slowly
# s: fetches may run until half of it after the commit close; at 16 nodes, K = 8, on 2
# loaded cores a member's exchange took up to 46 s (each 19 kB fetch ~6 s, 1.5 retries)
VOTE_WINDOW = 240
SAMPLE_INTERVAL = 1.0
MARKER = ".fedchain-scale"  # in --data-dir: this bench made it and may wipe its n*/


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


# ---------------------------------------------------------------- node processes, sampled


def _proc_status(pid: int) -> tuple[int, float]:
    """(VmHWM in kB, CPU seconds) of ``pid``; (0, 0.0) once it is gone."""
    try:
        hwm = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
        # fields after the command name (which may hold spaces): utime, stime are 14, 15
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(stat[11]) + int(stat[12])
        return hwm, ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0, 0.0


def _read_status(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


COUNTED = ("chain_reads_total", "connect.", "yamux.frames_out", "gossip.in.", "gossip.out.",
           "fetch_seconds_count", "committee_dials_", "base_fetches_total", "p2p.pruned.",
           "bitswap.charged.", "blockstream.charged.")  # fmt: skip


def _counters(status: dict[str, Any]) -> dict[str, float]:
    """The counters of a status document that ``counters_per_round`` reports."""
    both = {**status.get("metrics", {}), **status.get("p2p", {})}
    return {k: float(v) for k, v in both.items() if k.startswith(COUNTED)}


@dataclass
class Sampler:
    """Polls the nodes' status.json files and /proc while the demo runs (a thread)."""

    nodes_dir: Path
    nodes: int
    rounds: int
    devnet_dir: Path | None = None  # anvil's pid file is read from there once it exists
    anvil_pid: int | None = None
    peak_kb: dict[int, int] = field(default_factory=dict)  # node index -> VmHWM
    cpu_s: dict[int, float] = field(default_factory=dict)  # node index -> last CPU seconds
    # node index -> round -> the node's CPU seconds when its record of the round appeared
    cpu_at_record: dict[int, dict[int, float]] = field(default_factory=dict)
    # node index -> round -> the node's counters (metrics and p2p) when that record appeared
    counters_at_record: dict[int, dict[int, dict[str, float]]] = field(default_factory=dict)
    # round -> anvil's CPU seconds when every node had recorded the round
    anvil_at_round: dict[int, float] = field(default_factory=dict)
    records: int = 0
    phases: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        records = 0
        phases: dict[str, int] = {}
        for i in range(self.nodes):
            status = _read_status(self.nodes_dir / f"node{i}" / "status.json")
            records += min(len(status.get("records", [])), self.rounds)
            phase = str(status.get("phase", "starting")).split(" ")[0]
            phases[phase] = phases.get(phase, 0) + 1
            pid = status.get("pid")
            if isinstance(pid, int):
                hwm, cpu = _proc_status(pid)
                self.peak_kb[i] = max(self.peak_kb.get(i, 0), hwm)
                if cpu:
                    self.cpu_s[i] = cpu
                    seen = self.cpu_at_record.setdefault(i, {})
                    counted = self.counters_at_record.setdefault(i, {})
                    for record in status.get("records", []):
                        seen.setdefault(int(record["round"]), cpu)
                        if int(record["round"]) not in counted:
                            counted[int(record["round"])] = _counters(status)
        self.records = records
        if self.anvil_pid is None and self.devnet_dir is not None:
            with contextlib.suppress(OSError, ValueError):
                self.anvil_pid = int((self.devnet_dir / "anvil.pid").read_text())
        if self.anvil_pid is not None:
            done = [set(self.cpu_at_record.get(i, {})) for i in range(self.nodes)]
            anvil_cpu = _proc_status(self.anvil_pid)[1]
            for r in set.intersection(*done) if done else set():
                self.anvil_at_round.setdefault(r, anvil_cpu)
        self.phases = ", ".join(f"{n} {p}" for p, n in sorted(phases.items()))

    def run(self, on_sample: Any) -> None:
        while not self.stop.wait(SAMPLE_INTERVAL):
            self.sample()
            on_sample(self)


# ---------------------------------------------------------------- one N


def mine_history(blocks: int) -> None:
    """Have the demo mine ``blocks`` empty blocks (chain time barely moves) once it funded
    the nodes, before it starts them: the chain of a deployment that ran for a while, for
    the reads that scan it."""
    from node.chain.raw_rpc import RawRpc
    from node.demo import run

    fund = getattr(run.fund_accounts, "funds", run.fund_accounts)  # once per N, not nested

    def fund_then_mine(rpc_url: str, *args: Any, **kwargs: Any) -> Any:
        done = fund(rpc_url, *args, **kwargs)
        rpc = RawRpc(rpc_url, timeout=300)
        for start in range(0, blocks, 500):
            rpc.call("anvil_mine", [hex(min(500, blocks - start)), "0x0"])
        return done

    fund_then_mine.funds = fund  # type: ignore[attr-defined]
    run.fund_accounts = fund_then_mine  # type: ignore[assignment]


def run_one(args: argparse.Namespace, n: int, progress: Any) -> dict[str, Any]:
    from rich.console import Console

    from node.chain import devnet
    from node.chain.client import ChainClient, RoundStatus
    from node.chain.deploy import Deployment
    from node.demo.options import DemoOptions
    from node.demo.run import run_demo
    from node.operator.devnet import deployment_path
    from tests.integration.ports import free_port

    k = args.committee
    job = progress.add_task(f"N={n} K={k or 'all'}", total=n * args.rounds)
    with contextlib.ExitStack() as stack:
        if args.data_dir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fedchain-scale-")))
        else:
            root = args.data_dir.resolve() / f"n{n}"
            shutil.rmtree(root, ignore_errors=True)  # checked in main: made by this bench
            root.mkdir(parents=True)
            (root.parent / MARKER).touch()
        opts = DemoOptions(
            nodes=n,
            rounds=args.rounds,
            task=args.task,
            out=root / "report",
            data_root=root,
            port=free_port(),
            epochs=EPOCHS,
            commit_window=args.commit_window,
            vote_window=args.vote_window,
            timeout_per_round=float(args.commit_window + args.vote_window + 60),
            committee_size=k,
        )
        sampler = Sampler(opts.nodes_dir, n, args.rounds, opts.devnet_dir)

        def show(s: Sampler) -> None:
            progress.update(job, completed=s.records, description=f"N={n} K={k or 'all'}: "
                            f"{s.phases}")  # fmt: skip

        thread = threading.Thread(target=sampler.run, args=(show,), daemon=True)
        thread.start()
        if args.history_blocks:  # a deployment that has run a while
            mine_history(args.history_blocks)
        started = time.monotonic()
        try:
            quiet = Console(file=sys.stderr, quiet=not args.verbose)
            exit_code = run_demo(opts, quiet)
            elapsed = time.monotonic() - started
            sampler.stop.set()
            thread.join()
            deployment = Deployment.load(deployment_path(opts.devnet_dir))
            rpc_url = str(devnet.status(opts.devnet_dir).rpc_url)
            # anvil's accounts: the deployer, then node i's key at i + 1 (as the demo deals them)
            anvil = json.loads((opts.devnet_dir / "anvil.json").read_text())
            chain = ChainClient(rpc_url, deployment, anvil["private_keys"][0])
            addresses = [str(a) for a in anvil["available_accounts"][1 : n + 1]]
            infos = [chain.round_info(r) for r in range(1, args.rounds + 1)]
            finalized = {
                i.round: chain.latest_model_cid_of(i.round)
                for i in infos
                if i.status is RoundStatus.FINALIZED
            }
            # K = 0 deploys no committees: everyone is selected, no event to read
            committees = {i.round: chain.committee(i.round) if k else None for i in infos}
            statuses = [_read_status(opts.nodes_dir / f"node{i}" / "status.json") for i in range(n)]
        finally:
            sampler.stop.set()
            devnet.down(opts.devnet_dir)
        progress.update(job, completed=sampler.records)
    return summarize(
        n, args.rounds, infos, finalized, committees, statuses, addresses, sampler, elapsed
    ) | {"demo_exit": exit_code}


def cpu_per_round(
    cpu_at_record: dict[int, dict[int, float]],
    statuses: Sequence[dict[str, Any]],
    anvil_at_round: dict[int, float],
) -> dict[str, Any]:
    """CPU seconds a node process spent on a round (between its records of round r - 1 and
    r, so the time between rounds counts and start-up does not: rounds 2..), mean per
    member round and per observer round (the record says ``selected: false``), and anvil's
    per round (between the rounds every node had recorded)."""
    member: list[float] = []
    observer: list[float] = []
    per_round: dict[int, float] = {}  # all node processes together
    for i, status in enumerate(statuses):
        seen = cpu_at_record.get(i, {})
        for record in status.get("records", []):
            r = int(record["round"])
            if r in seen and r - 1 in seen:
                spent = seen[r] - seen[r - 1]
                (observer if record.get("selected") is False else member).append(spent)
                per_round[r] = per_round.get(r, 0.0) + spent
    done = sorted(anvil_at_round)
    anvil = (
        (anvil_at_round[done[-1]] - anvil_at_round[done[0]]) / (done[-1] - done[0])
        if len(done) >= 2
        else None
    )
    return {
        "cpu_s_per_member_round": _mean(member),
        "cpu_s_per_observer_round": _mean(observer),
        "cpu_s_per_round_anvil": round(anvil, 3) if anvil is not None else None,
        "cpu_s_per_round_nodes": _mean(list(per_round.values())),
        "cpu_rounds_sampled": {"member": len(member), "observer": len(observer)},
    }


def counters_per_round(
    counters_at_record: dict[int, dict[int, dict[str, float]]],
    statuses: Sequence[dict[str, Any]],
) -> dict[str, dict[str, float]]:
    """Each counter's mean growth per member round and per observer round (between a
    node's records of rounds r - 1 and r, as ``cpu_per_round``; counters are sampled with
    the records, so a count may slip into the next round): where a role's chain reads,
    dials and p2p frames go."""
    totals: dict[str, dict[str, float]] = {"member": {}, "observer": {}}
    pairs = {"member": 0, "observer": 0}
    for i, status in enumerate(statuses):
        seen = counters_at_record.get(i, {})
        for record in status.get("records", []):
            r = int(record["round"])
            if r in seen and r - 1 in seen:
                role = "observer" if record.get("selected") is False else "member"
                pairs[role] += 1
                for key, value in seen[r].items():
                    grown = value - seen[r - 1].get(key, 0.0)
                    totals[role][key] = totals[role].get(key, 0.0) + grown
    return {
        f"counters_per_{role}_round": {
            k: round(v / pairs[role], 2) for k, v in sorted(table.items()) if v
        }
        for role, table in totals.items()
        if pairs[role]
    }


def summarize(
    n: int,
    rounds: int,
    infos: Sequence[Any],
    finalized: dict[int, str],
    committees: dict[int, list[str] | None],
    statuses: Sequence[dict[str, Any]],
    addresses: Sequence[str],
    sampler: Sampler,
    elapsed: float,
) -> dict[str, Any]:
    """The figures of one N from the chain's rounds and the nodes' status documents."""
    walls: dict[int, list[float]] = {r: [] for r in range(1, rounds + 1)}
    phases: dict[str, list[float]] = {}
    agreed: list[str] = []
    abstained: list[int] = []  # members that abstained (lacking updates others verified)
    voted_other = 0  # members that computed another model and did not abstain: a split
    agreement = len(finalized) == rounds
    not_selected = views_differ = member_rounds = 0
    for r in range(1, rounds + 1):
        members = committees.get(r)
        selected = {a.lower() for a in members} if members is not None else None
        computed = expected = abstainers = 0
        for address, status in zip(addresses, statuses, strict=True):
            record = next((x for x in status.get("records", []) if x["round"] == r), None)
            is_member = selected is None or address.lower() in selected
            if record is not None:
                observed = record.get("selected") is False
                not_selected += observed
                views_differ += observed is is_member  # the node saw another committee
            if record is None or record.get("finalized_cid") != finalized.get(r):
                agreement = False
            if not is_member:
                continue
            expected += 1
            if record is not None and record.get("model_cid") == finalized.get(r):
                computed += 1
            elif record is not None and record.get("abstained"):
                abstainers += 1
            elif record is not None:
                voted_other += 1
            if record is not None and record.get("timings"):
                walls[r].append(sum(float(s) for s in record["timings"].values()))
                if r > 1 or rounds == 1:
                    for phase, seconds in record["timings"].items():
                        phases.setdefault(phase, []).append(float(seconds))
        agreement &= computed == expected and views_differ == 0
        agreed.append(f"{computed}/{expected}")
        abstained.append(abstainers)
        member_rounds += expected
    fetches = [float(s.get("metrics", {}).get("fetch_seconds_count", 0)) for s in statuses]
    retries = [float(s.get("metrics", {}).get("fetch_retries_total", 0)) for s in statuses]
    gossip_in = [float(s.get("p2p", {}).get("gossip.in.messages", 0)) for s in statuses]
    duplicates = [float(s.get("p2p", {}).get("gossip.in.duplicates", 0)) for s in statuses]
    relay_skipped = [float(s.get("p2p", {}).get("gossip.relay_skipped", 0)) for s in statuses]
    frames = [float(s.get("p2p", {}).get("yamux.frames_out", 0)) for s in statuses]
    window_updates = [float(s.get("p2p", {}).get("yamux.out.window_update", 0)) for s in statuses]
    done = [i for i in infos if i.finalized_at]
    if len(done) >= 2:
        cycle = (done[-1].finalized_at - done[0].finalized_at) / (len(done) - 1)
    elif done:
        cycle = float(done[0].finalized_at - done[0].opened_at)
    else:
        cycle = None
    peaks = [kb / 1024 for kb in sampler.peak_kb.values()]
    later = [x for r in walls if r > 1 for x in walls[r]]
    return {
        "nodes": n,
        "mean_round_s": _mean(later) if rounds > 1 else _mean(walls[1]),
        "mean_round_s_incl_round1": _mean([x for r in walls for x in walls[r]]),
        "per_round_mean_s": [_mean(walls[r]) for r in walls],
        "cycle_s": round(cycle, 2) if cycle is not None else None,
        "phase_mean_s": {k: _mean(v) for k, v in phases.items()},
        "fetches_per_node_round": round(sum(fetches) / (n * rounds), 3),
        "fetches_per_node_round_max": round(max(fetches, default=0) / rounds, 3),
        "fetches_per_member_round": round(sum(fetches) / member_rounds, 3)
        if member_rounds
        else None,
        "fetch_retries_per_node_round": round(sum(retries) / (n * rounds), 3),
        "gossip_in_per_node_round": round(sum(gossip_in) / (n * rounds), 1),
        "gossip_in_per_node_round_max": round(max(gossip_in, default=0) / rounds, 1),
        "gossip_duplicates_in_per_node_round": round(sum(duplicates) / (n * rounds), 1),
        "gossip_relay_skipped_per_node_round": round(sum(relay_skipped) / (n * rounds), 1),
        "yamux_frames_out_per_node_round": round(sum(frames) / (n * rounds), 1),
        "yamux_window_updates_per_node_round": round(sum(window_updates) / (n * rounds), 1),
        "rounds_finalized": len(finalized),
        "rounds_total": rounds,
        "committee_per_round": [len(c) if c is not None else n for c in committees.values()],
        "not_selected_records": not_selected,
        "committee_views_differ": views_differ,
        "agreement": agreement,
        "agreed": agreed,
        "abstained_per_round": abstained,
        "members_voting_another_outcome": voted_other,
        "peak_rss_mb_max": round(max(peaks), 1) if peaks else None,
        "peak_rss_mb_mean": round(sum(peaks) / len(peaks), 1) if peaks else None,
        "cpu_busy": round(sum(sampler.cpu_s.values()) / (elapsed * (os.cpu_count() or 1)), 2),
        **cpu_per_round(sampler.cpu_at_record, statuses, sampler.anvil_at_round),
        **counters_per_round(sampler.counters_at_record, statuses),
        "seconds_total": round(elapsed, 1),
    }


def parse_nodes(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--nodes: comma list of integers, got {text!r}") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"--nodes: each N must be >= 2, got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="example: bench/scale.py --nodes 8,16,32 --committee 8 --rounds 3",
    )
    parser.add_argument("--nodes", type=parse_nodes, default=[8, 16, 32], help="e.g. 8,16,32")
    parser.add_argument(
        "--committee", type=int, default=8, help="K per round; 0 = everyone (default 8)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="per N (default 3)")
    parser.add_argument("--task", default="digits-mlp", help="(default digits-mlp)")
    parser.add_argument(
        "--commit-window", type=int, default=COMMIT_WINDOW, help=f"s (default {COMMIT_WINDOW})"
    )
    parser.add_argument(
        "--vote-window", type=int, default=VOTE_WINDOW, help=f"s (default {VOTE_WINDOW})"
    )
    parser.add_argument(
        "--history-blocks",
        type=int,
        default=0,
        help="empty blocks mined once deployed: a deployment that ran a while (default 0)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the demo's own output")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep each N's devnet, node dirs (logs, status.json) and report in "
        "DATA_DIR/n<N> (default: a temp dir, removed)",
    )
    args = parser.parse_args(argv)
    data_dir = args.data_dir
    made_here = data_dir is not None and (data_dir / MARKER).is_file()
    if data_dir is not None and data_dir.is_dir() and any(data_dir.iterdir()) and not made_here:
        parser.error(f"--data-dir {data_dir} is not empty and was not made by this bench")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.committee < 0:
        parser.error("--committee must be >= 0 (0 = everyone)")
    out: dict[str, Any] = {
        "bench": "scale",
        "task": args.task,
        "committee": args.committee,
        "rounds": args.rounds,
        "history_blocks": args.history_blocks,
        "epochs": EPOCHS,
        "commit_window": args.commit_window,
        "vote_window": args.vote_window,
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "runs": {},
    }
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} records"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=args.verbose,  # the demo shows its own live table
    )
    with progress:
        for n in args.nodes:
            try:
                out["runs"][str(n)] = run_one(args, n, progress)
            except Exception as exc:  # report it and go on with the next N
                traceback.print_exc(file=sys.stderr)
                out["runs"][str(n)] = {"nodes": n, "error": f"{type(exc).__name__}: {exc}"}
    runs = out["runs"]
    out["growth_32_over_8"] = _ratio(
        runs.get("32", {}).get("mean_round_s"), runs.get("8", {}).get("mean_round_s")
    )
    out["cycle_growth_32_over_8"] = _ratio(
        runs.get("32", {}).get("cycle_s"), runs.get("8", {}).get("cycle_s")
    )
    out["ok"] = all(
        r.get("agreement") is True and r.get("rounds_finalized") == r.get("rounds_total")
        for r in runs.values()
    )
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
