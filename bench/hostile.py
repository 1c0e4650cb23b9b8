"""Chain rounds with hostile peers around: 4 honest node processes on a real devnet.

A fresh anvil devnet (digits-mlp, commit window 15 s, vote window 30 s, every node with
a late-vote grace of 2 s), 4 honest node processes (``node run``, as the demo starts them),
and, in one child process, three hostile libp2p peers:

* H1, registered (minimum stake, its own account and peer id): announces itself on
  gossip as provider of every commitment as soon as it is on chain (polled every
  0.5 s), so honest nodes race it for every update; it answers the fast-path request,
  then trickles one byte every 8 s (under the 10 s stall timer). H2 serves the fast
  path the same way, unannounced.
* H2, registered: about every second (from 10 s into the attack), to each honest node, one
  Bitswap message with 800 want-blocks for the same block (the latest announced update's
  root) and 5000 random want-haves, plus a Bitswap stream left with half a frame; and from
  the start ten times a second a want-block for that update on a stream of its own, never
  reading the streams the honest nodes answer on (their sends stall: ``send_stall``).
* U, unregistered: keeps 60 idle ``/fedchain/blocks/1`` streams open to each honest
  node, and every 2 s sends each a pubsub RPC frame announcing 2 MiB (oversize) and
  one that is not a protobuf (garbage).

That is ``--mode fetch`` (the default). ``--mode push-flood`` floods the announcement
topic with hostile pushes instead, the honest nodes pushing their own updates as usual
(bench/_push_flood.py has the attack and its figures, under ``push_flood``: honest round
time and CPU-s per round with the flood against the clean rounds, refusals by reason, the
push cache's peak bytes); ``--mode all`` runs both attacks at once, honest pushes off (the
short test's run). The first ``--clean`` rounds run with the hostile peers registered but
idle; the attack starts when round ``clean + 1`` opens and runs for ``--attack`` rounds.
Prints ONE JSON line:

* ``rounds_finalized`` / ``rounds_total`` (read from the chain), ``agreement``: every
  honest node recorded the chain's finalized model CID in every round;
* ``honest_blacklisted``: (observer, honest peer) pairs where an honest node's score
  of an honest peer reached the blacklist threshold (-100) at any poll of its status
  document (every 0.5 s), or its log says it blacklisted one; ``min_honest_score``;
* ``rss_growth_mb``: per honest node, its peak RSS (sampled VmRSS) during the attack
  minus its peak during the clean rounds after round 1; ``rss_growth_mb_max``;
* ``fetch_s_clean`` / ``fetch_s_attack``: the honest nodes' mean time per update fetch
  (the honest nodes run with ``push_max_bytes = 0``, so every update is fetched: small
  updates would otherwise ride their authors' pushes and the attack would miss the path)
  (``fetch_seconds_sum / fetch_seconds_count`` from their metrics, taken at each round
  boundary) over the clean rounds (round 1 left out when there are two or more: its
  first dials) and over the attack rounds; ``ratio`` (goal <= 3);
* ``counters``: what the honest nodes refused, demoted and charged, summed.

    .venv/bin/python bench/hostile.py --quick      # 1 clean + 1 attack round
    .venv/bin/python bench/hostile.py              # 2 clean + 6 attack rounds
    .venv/bin/python bench/hostile.py --mode push-flood --clean 3 --attack 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = 10**18
HONEST = 4
TASK = "digits-mlp"
COMMIT_WINDOW = 15
VOTE_WINDOW = 30
LATE_VOTE_GRACE = 2  # seconds (the chain enforces it; the hostile peers never vote)
BLACKLIST_SCORE = -100.0
POLL = 0.5
ROUND_TIMEOUT = 120.0
GARBAGE_DELAY_S = 5.0
# H2's want-list abuse gets it cut off within seconds: it starts this much later, so the
# honest nodes first see H2 leave their answers unread (a stall takes ~6 s: the yamux
# window filled, then 5 s without window)
NON_READ_HEAD_START_S = 10.0
PUSH_OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "hostile_push.json"
COUNTER_KEYS = ("refused", "demoted", "rejected", "transport", "graylisted", "won", "charged")


async def _attackers(
    tmp: str,
    chain_args: tuple[str, str, str],
    conn: Connection,
    mode: str,
    rate: float,
    flooders: tuple[str, ...],
) -> None:
    import trio
    from libp2p.peer.id import ID

    from bench import _fetch_attack as fa
    from bench import _push_flood as pf
    from node.chain.client import ChainClient
    from node.chain.deploy import Deployment
    from node.p2p.network import open_network

    rpc_url, deployment_file, h1_key = chain_args
    chain = ChainClient(rpc_url, Deployment.load(Path(deployment_file)), h1_key)
    from node.store.blockstream import PROTOCOL

    async with AsyncExitStack() as stack:
        h1, h2, u = [
            await stack.enter_async_context(open_network(data_dir=Path(tmp) / name))
            for name in ("h1", "h2", "u")
        ]
        for hostile in (h1, h2):
            hostile.host.set_stream_handler(PROTOCOL, fa.drip)
        conn.send([(n.peer_id, n.listen_addrs()) for n in (h1, h2, u)])
        honest, topic, victims, owners = await trio.to_thread.run_sync(conn.recv)
        flooding = mode in ("push-flood", "all")
        for net in (h1, h2, u):
            if flooding:
                net.set_gossip_policy(topic, pf.permissive_policy())
            for peer_id, addrs in honest.items():
                await net.connect(peer_id, addrs)
        for hostile in (h1, h2, u) if flooding else (h1, h2):
            await hostile.subscribe(topic)
        targets = [ID.from_base58(p) for p in honest]
        latest: list[bytes] = []
        current = [0]
        attacking = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fa.announce_commitments, h1, chain, topic, latest, attacking)
            if await trio.to_thread.run_sync(conn.recv) == "attack":  # else "stop"
                if mode in ("fetch", "all"):
                    attacking.set()
                    fa.never_read(h2)
                    nursery.start_soon(fa.wants_unread, h2, targets, latest)
                    head_start = NON_READ_HEAD_START_S
                    nursery.start_soon(fa.bitswap_abuse, h2, targets, latest, head_start)
                    nursery.start_soon(fa.stream_flood, u, targets)
                    # with the push flood too, U's garbage frames (which get it graylisted)
                    # wait until the honest nodes have seen its pushes
                    delay = GARBAGE_DELAY_S if flooding else 0.0
                    nursery.start_soon(fa.gossip_garbage, u, targets, delay)
                if flooding:
                    nursery.start_soon(pf.track_round, chain, current)
                    table = pf.ALL_MODE_KINDS if mode == "all" else pf.KINDS_BY_PEER
                    peers = ((h1, "h1", owners[0]), (h2, "h2", owners[1]), (u, "u", pf.U_ACCOUNT))
                    for net, name, own in peers:
                        if table[name] and name in flooders:
                            args = (net, topic, name, table[name], own, victims, current, rate)
                            nursery.start_soon(pf.flood, *args, fa.SENT)
                await trio.to_thread.run_sync(conn.recv)  # "stop"
            # before the teardown: dials to honest nodes that cut us off can hold it up
            conn.send(dict(fa.SENT))
            nursery.cancel_scope.cancel()


def run_attackers(
    tmp: str,
    chain_args: tuple[str, str, str],
    conn: Connection,
    mode: str,
    rate: float,
    flooders: tuple[str, ...],
) -> None:
    import trio

    logging.disable(logging.CRITICAL)  # the honest side's refusals are expected here
    trio.run(_attackers, tmp, chain_args, conn, mode, rate, flooders)


# ------------------------------------------------------------------ observing the honest nodes


def _vm_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _fetch_totals(status: dict[str, Any]) -> tuple[float, float]:
    metrics = status.get("metrics", {})
    return float(metrics.get("fetch_seconds_sum", 0.0)), float(
        metrics.get("fetch_seconds_count", 0.0)
    )


def _mean_fetch(snapshots: dict[int, list[tuple[float, float]]], first: int, last: int) -> float:
    """Mean seconds per fetch over rounds first..last, all honest nodes together
    (``snapshots[r]`` holds each node's totals once round r is over)."""
    before, after = snapshots[first - 1], snapshots[last]
    seconds = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    count = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    return seconds / count if count else float("nan")


def _finite(seconds: float) -> float | None:
    """``seconds`` rounded; None (JSON null) for no fetch at all (NaN is not JSON)."""
    return None if math.isnan(seconds) else round(seconds, 3)


def _blacklisted_in_log(log: str, honest: set[str]) -> set[str]:
    found = re.findall(r"gossip: (\S+) scored \S+; ignoring it from now on", log)
    return {peer for peer in found if peer in honest}


def _disconnected_in_log(log: str) -> set[str]:
    return set(re.findall(r"p2p: disconnecting graylisted (\S+);", log))


def run_bench(
    clean: int,
    attack: int,
    mode: str = "fetch",
    rate: float = 10.0,
    flooders: tuple[str, ...] = ("h1", "h2", "u"),
) -> dict[str, Any]:
    from rich.console import Console

    from bench import _push_flood as pf
    from node.chain import devnet
    from node.chain.client import ChainClient
    from node.chain.deploy import DeployParams, fund_accounts
    from node.demo.processes import NodeProcess, start_node, stop_all
    from node.demo.run import DemoOptions, all_done, prepare_nodes
    from node.operator.devnet import deployment_path, devnet_up
    from tests.integration.ports import free_port

    total = clean + attack
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="fedchain-hostile-") as tmp:
        opts = DemoOptions(nodes=HONEST, rounds=total, task=TASK, data_root=Path(tmp), epochs=1)
        params = DeployParams(
            commit_window=COMMIT_WINDOW,
            vote_window=VOTE_WINDOW,
            min_participants=HONEST + 2,
            late_vote_grace=LATE_VOTE_GRACE,
        )
        nodes: list[NodeProcess] = []
        ours, theirs = ctx.Pipe()
        child: Any = None
        sent: dict[str, int] = {}
        started = time.monotonic()
        try:
            net, deployment = devnet_up(
                opts.devnet_dir, free_port(), Console(quiet=True), TASK, params
            )
            owner = net.accounts[0][1]
            keys = net.accounts[1 : HONEST + 1]
            hostile_keys = net.accounts[HONEST + 1 : HONEST + 3]
            funded = [a for a, _ in keys + hostile_keys]
            fund_accounts(net.rpc_url, deployment, owner, funded, 1000 * TOKEN)
            chain_args = (net.rpc_url, str(deployment_path(opts.devnet_dir)), hostile_keys[0][1])
            child = ctx.Process(
                target=run_attackers,
                args=(tmp, chain_args, theirs, mode, rate, flooders),
                daemon=True,
            )
            child.start()
            (h1, h1_addrs), (h2, h2_addrs), (u, _) = ours.recv()
            for (_, key), (peer, addrs) in zip(
                hostile_keys, [(h1, h1_addrs), (h2, h2_addrs)], strict=True
            ):
                ChainClient(net.rpc_url, deployment, key).ensure_registered(
                    params.min_stake, peer, addrs
                )
            configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
            for index, (address, config) in enumerate(configs):
                if mode != "push-flood":
                    with config.open("a") as toml:  # the attack targets fetches: no pushes
                        toml.write("push_max_bytes = 0\n")
                nodes.append(start_node(index, address, config.parent, config))

            def check_alive() -> None:
                for node in nodes:
                    if not node.running():
                        raise RuntimeError(f"node {node.index} exited:\n{node.log_tail(20)}")

            deadline = time.monotonic() + 120
            while not all(s.get("listen_addrs") for s in (n.status() for n in nodes)):
                check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError("honest nodes did not start in 120 s")
                time.sleep(POLL)
            statuses = [n.status() for n in nodes]
            honest = {s["peer_id"]: s["listen_addrs"] for s in statuses}
            topic = f"/fedchain/{deployment.chain_id}/{deployment.coordinator.lower()}/updates/1"
            victims = [address for address, _ in keys]
            ours.send((honest, topic, victims, [a for a, _ in hostile_keys]))

            chain = ChainClient(net.rpc_url, deployment, owner)
            snapshots: dict[int, list[tuple[float, float]]] = {0: [(0.0, 0.0)] * HONEST}
            peak_clean = [0.0] * HONEST
            peak_attack = [0.0] * HONEST
            min_score: dict[tuple[str, str], float] = {}
            seen_round = 0
            wall: dict[int, float] = {}  # round r over (0: round 1 opened): bench clock
            cpu: dict[int, float] = {}  # ... and the honest nodes' CPU-s so far
            rejected_clean: dict[str, float] = {}
            cache_max = 0
            deadline = time.monotonic() + 120 + ROUND_TIMEOUT * total
            while not all_done(nodes, total):
                check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{total} rounds not done in time")
                current = chain.current_round()
                statuses = [n.status() for n in nodes]
                for r in range(seen_round, current):
                    wall[r] = time.monotonic()
                    cpu[r] = sum(pf.cpu_seconds(n.process.pid) for n in nodes)
                    if r >= 1:
                        snapshots[r] = [_fetch_totals(s) for s in statuses]
                    if r + 1 == clean + 1:
                        live = [pf.live_status(n.data_dir) for n in nodes]
                        rejected_clean = pf.rejected_by_reason(live)
                        ours.send("attack")
                seen_round = max(seen_round, current)
                if mode != "fetch":
                    live = [pf.live_status(n.data_dir) for n in nodes]
                    cache_max = max([cache_max, *(s.get("push_cache_bytes", 0) for s in live)])
                for i, (node, status) in enumerate(zip(nodes, statuses, strict=True)):
                    rss = _vm_rss_mb(node.process.pid)
                    if 1 <= current <= clean and (current >= 2 or clean == 1):
                        peak_clean[i] = max(peak_clean[i], rss)
                    elif current > clean:
                        peak_attack[i] = max(peak_attack[i], rss)
                    for peer, score in status.get("peer_scores", {}).items():
                        if peer in honest:
                            pair = (str(status["peer_id"]), peer)
                            min_score[pair] = min(min_score.get(pair, 0.0), float(score))
                time.sleep(POLL)
            wall[total] = time.monotonic()
            cpu[total] = sum(pf.cpu_seconds(n.process.pid) for n in nodes)
            rejected_end = pf.rejected_by_reason([pf.live_status(n.data_dir) for n in nodes])
            statuses = [n.status() for n in nodes]
            snapshots[total] = [_fetch_totals(s) for s in statuses]
            logs = [n.log_path.read_text() for n in nodes]
            finalized = {r: chain.finalized_outcome(r) for r in range(1, total + 1)}
        finally:
            with contextlib.suppress(Exception):
                ours.send("stop")
                if ours.poll(10):
                    sent = ours.recv()
            stop_all(nodes)
            if child is not None:
                child.join(10)
                if child.is_alive():
                    child.kill()
            devnet.down(opts.devnet_dir)
        elapsed = time.monotonic() - started

    agreement = True
    for r, outcome in finalized.items():
        for status in statuses:
            mine: dict[str, Any] = next((x for x in status["records"] if int(x["round"]) == r), {})
            agreement &= outcome is not None and mine.get("finalized_cid") == outcome.model_cid
    blacklisted = {key for key, score in min_score.items() if score <= BLACKLIST_SCORE}
    for status, log in zip(statuses, logs, strict=True):
        blacklisted |= {(status["peer_id"], p) for p in _blacklisted_in_log(log, set(honest))}
    first_clean = 2 if clean >= 2 else 1
    clean_s = _mean_fetch(snapshots, first_clean, clean)
    attack_s = _mean_fetch(snapshots, clean + 1, total)
    growth = [round(a - c, 1) for a, c in zip(peak_attack, peak_clean, strict=True)]
    counters: dict[str, float] = {}
    for status in statuses:
        for key, value in {**status.get("p2p", {}), **status.get("metrics", {})}.items():
            if any(k in key for k in COUNTER_KEYS):
                counters[key] = counters.get(key, 0) + value
    out: dict[str, Any] = {
        "bench": "hostile",
        "mode": mode,
        "task": TASK,
        "honest_nodes": HONEST,
        "hostile": {"registered": [h1, h2], "unregistered": u},
        "rounds_clean": clean,
        "rounds_attack": attack,
        "rounds_total": total,
        "rounds_finalized": sum(o is not None for o in finalized.values()),
        "agreement": agreement,
        "honest_blacklisted": len(blacklisted),
        # how many honest nodes closed each hostile peer's connection once it was graylisted
        # (node/p2p/peer_gate.py); "honest": (node, honest peer) pairs, must stay 0
        "disconnected": {
            name: sum(peer in _disconnected_in_log(log) for log in logs)
            for name, peer in (("h1", h1), ("h2", h2), ("u", u))
        }
        | {"honest": sum(len(_disconnected_in_log(log) & set(honest)) for log in logs)},
        "min_honest_score": round(min(min_score.values(), default=0.0), 1),
        "fetch_s_clean": _finite(clean_s),
        "fetch_s_attack": _finite(attack_s),
        "ratio": _finite(attack_s / clean_s) if clean_s else None,
        "fetch_s_per_round": [_finite(_mean_fetch(snapshots, r, r)) for r in range(1, total + 1)],
        "rss_growth_mb": growth,
        "rss_growth_mb_max": max(growth),
        "attackers_sent": sent,
        "counters": dict(sorted(counters.items())),
        "cpus": os.cpu_count(),
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "seconds_total": round(elapsed, 1),
    }
    if mode != "fetch":
        flood = pf.summary(
            clean, total, wall, cpu, (rejected_clean, rejected_end), cache_max, statuses
        )
        pushed = sum(n for k, n in sent.items() if k.startswith("pushes_"))
        seconds = wall[total] - wall[clean]
        out["push_flood"] = {
            "rate_per_peer": rate,
            "flooders": list(flooders),
            # what the attackers' process managed (it shares the CPUs with the honest nodes)
            "sent_per_s": round(pushed / seconds, 1) if seconds > 0 else None,
            **flood,
        }
        if mode == "push-flood":  # no fetch to time: honest updates ride their pushes
            out["ratio"] = flood["ratio"]
    out["ratio_of"] = "round_s" if mode == "push-flood" else "fetch_s"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Examples:\n  python bench/hostile.py --quick\n  python bench/hostile.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clean", type=int, default=2, help="rounds before the attack (2)")
    parser.add_argument("--attack", type=int, default=6, help="rounds under attack (6)")
    parser.add_argument("--quick", action="store_true", help="1 clean + 1 attack round")
    parser.add_argument(
        "--mode",
        choices=("fetch", "push-flood", "all"),
        default="fetch",
        help="which attack: fetch (default), push-flood or all (both at once)",
    )
    parser.add_argument(
        "--rate", type=float, default=10.0, help="push-flood messages a second per peer (10)"
    )
    parser.add_argument(
        "--flooders",
        default="h1,h2,u",
        help="push-flood: which hostile peers flood, comma-separated (h1,h2,u)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help=f"push-flood: do not write {PUSH_OUT.name}"
    )
    args = parser.parse_args()
    clean, attack = (1, 1) if args.quick else (args.clean, args.attack)
    if clean < 1 or attack < 1:
        raise SystemExit("error: --clean and --attack must be at least 1, e.g. --clean 2")
    if not 0 < args.rate <= 50:
        raise SystemExit(f"error: --rate must be in (0, 50] messages a second, got {args.rate}")
    flooders = tuple(f.strip() for f in args.flooders.split(",") if f.strip())
    if not flooders or not set(flooders) <= {"h1", "h2", "u"}:
        raise SystemExit(f"error: --flooders takes h1, h2 and/or u, got {args.flooders!r}")
    line = json.dumps(run_bench(clean, attack, args.mode, args.rate, flooders))
    print(line)
    if args.mode == "push-flood" and not args.quick and not args.no_save:
        PUSH_OUT.write_text(line + "\n")


if __name__ == "__main__":
    main()
