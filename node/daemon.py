"""Composition root: one trio nursery owns the network, discovery, gossip and the round loop."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import trio

from node import profiling
from node.advance_turn import AdvanceTurns, round_committers
from node.aggregate.registry import build_rule
from node.ahead import AheadTraining
from node.announcements import AnnouncementFeed
from node.announcements import admit as admit_push
from node.announcements import relayed as relayed_message
from node.behaviour import UpdateBehaviour
from node.chain.client import ChainClient, Participant, RoundInfo, RoundStatus
from node.claims import ClaimQueue, reconcile_claims
from node.commit import train_ahead
from node.config import NodeConfig
from node.context import NodeContext
from node.control import operator_ops, serve_control
from node.errors import ChainError, ConfigError, FedchainError, one_error
from node.learning.local import genesis_params
from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split
from node.learning.tasks import get_task
from node.p2p.gossip import GossipPolicy
from node.p2p.messages import MAX_PUSH_MESSAGE
from node.p2p.messages import decode as decode_announcement
from node.p2p.network import PeerNetwork, open_network
from node.p2p.overlay import DiscoveryPace, keep_overlay
from node.pinning import KuboPinner
from node.privacy import step as privacy_step
from node.privacy.bound import dp_problems
from node.round import run_round
from node.startup import open_account
from node.state import NodeState
from node.status_server import serve_status
from node.store.cid import compute_cid
from node.update.codec import encode_model
from node.upkeep import upkeep
from node.vote import keep_finished_vote
from node.waits import Recheck, RoundLost, block_seen, next_block

log = logging.getLogger(__name__)

DISCOVERY_INTERVAL = 3.0  # seconds between cheap registry checks while peers change
DISCOVERY_IDLE = 30.0  # ... once they stopped changing (and at each new round)
DISCOVERY_REFRESH = 120.0  # seconds between full registry reads (new registrations: at once)
PIN_QUEUE = 16
CLAIMS_DRAIN_S = 30.0  # on a stop signal, at most this long for queued claims (else at restart)


def gossip_policy(ctx: NodeContext) -> GossipPolicy:
    """Checks before an announcement is accepted or forwarded; no chain calls (see ctx)."""
    return GossipPolicy(
        decode=decode_announcement,
        is_registered=ctx.registered_peers.__contains__,
        round_ok=lambda r: ctx.current_round - 1 <= r <= ctx.current_round + 1,
        round_known=lambda: ctx.current_round > 0,  # 0 until the round loop read it
        round_past=lambda r: r < ctx.current_round - 1,  # stale replays: dropped, uncharged
        admit=partial(admit_push, ctx),  # a push only from its author (node/announcements.py)
        max_size=MAX_PUSH_MESSAGE,  # a small update rides its author's announcement
        relay=relayed_message,  # pushes are not relayed (node/announcements.py)
    )


async def discover_peers(ctx: NodeContext) -> None:
    """Connect to every registered participant we are not connected to, forever.

    Reading the registry costs 1 + 2n contract calls, and web3.py spends real CPU on
    each: with 8 nodes on 2 cores, a full read every few seconds by every node starved
    the event loops (blob fetches took seconds). So the registry is read in full only
    when its size changed or every ``DISCOVERY_REFRESH`` seconds (stake changes, new
    addresses); otherwise one call (``participantCount``) per ``DISCOVERY_INTERVAL``,
    and disconnected peers are redialled from the cached entries (with backoff); once
    neither the count nor the connected peers change, per ``DISCOVERY_IDLE`` or new round
    (``node.p2p.overlay.DiscoveryPace``).
    ``fetch_blob_until`` also re-reads an author's entry before each fetch attempt.
    """
    known_count = -1
    refreshed_at = -math.inf
    participants: list[Participant] = []
    pace = DiscoveryPace(DISCOVERY_INTERVAL, DISCOVERY_IDLE)
    while True:
        settled = False
        try:
            count = await ctx.chain_port.participant_count()
            stale = trio.current_time() - refreshed_at >= DISCOVERY_REFRESH
            if count != known_count or stale:
                participants = await ctx.chain_port.participants()
                known_count, refreshed_at = count, trio.current_time()
                ctx.registered_peers.clear()
                ctx.registered_peers.update(p.peer_id for p in participants if p.active)
                ctx.peer_ids = {p.address.lower(): p.peer_id for p in participants if p.active}
            await connect_missing(ctx, participants)  # dials back off by themselves
            settled = pace.settled(count, ctx.net.connected_peers())
        except ChainError as exc:
            log.warning("peer discovery: %s", exc)
        await pace.pause(settled, lambda: ctx.current_round)


async def connect_missing(ctx: NodeContext, participants: list[Participant]) -> None:
    active = {p.peer_id: p.addrs for p in participants if p.active and p.addrs}
    await keep_overlay(ctx.net, active, ctx.cfg.overlay_degree)


def status_document(ctx: NodeContext, phase: str) -> dict[str, Any]:
    outage = ctx.link.describe()  # "chain unreachable since ..." during an RPC outage
    return {
        "address": ctx.address,
        "peer_id": ctx.net.peer_id,
        "listen_addrs": ctx.net.listen_addrs(),
        "connected_peers": len(ctx.net.connected_peers()),
        "pid": os.getpid(),
        "phase": f"{phase} ({outage})" if outage else phase,
        "chain": outage or "reachable",
        "chain_watch": ctx.watch.mode if ctx.watch is not None else "off",
        "records": ctx.state.records(),
        "metrics": ctx.metrics.as_dict(),
        "p2p": dict(ctx.net.metrics),
        "peer_scores": ctx.net.peer_scores(),
        "push_cache_bytes": ctx.pushed.held_bytes,  # bounded by its max_bytes
    }


def write_status(ctx: NodeContext, phase: str) -> None:
    ctx.phase = phase
    path = ctx.cfg.data_dir / "status.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status_document(ctx, phase), indent=1, sort_keys=True))
    tmp.replace(path)


async def collect_garbage(ctx: NodeContext, r: int) -> None:
    """Drop blocks of rounds before r-1, except every finalized model and the genesis."""
    keep = {ctx.genesis_cid}
    keep.update(rec["finalized_cid"] for rec in ctx.state.records() if rec.get("finalized_cid"))
    for recent in (r - 1, r):
        if recent >= 1:
            keep.update((await ctx.chain_port.commitments(recent)).values())
            row = ctx.state.get(recent)
            keep.update(c for c in (row.base_cid, row.model_cid, row.update_cid) if c)
    try:
        removed = await ctx.net.collect_garbage(sorted(keep))
    except FedchainError as exc:
        log.warning("garbage collection skipped: %s", exc)
        return
    ctx.metrics.inc("blocks_collected_total", removed)


async def tidy_up(ctx: NodeContext, r: int) -> None:
    """After round ``r`` (and after the advance it allows: off the critical path)."""
    me = await ctx.chain_port.participant()
    if me is not None:
        ctx.metrics.set("stake_tokens", me.stake / 10**18)
    await collect_garbage(ctx, r)


def count_round(ctx: NodeContext, record: dict[str, Any]) -> None:
    ctx.metrics.inc("rounds_total", status=record["status"])
    for phase, seconds in record["timings"].items():
        ctx.metrics.inc("phase_seconds_total", seconds, phase=phase)
    if record["accuracy"] is not None:
        ctx.metrics.set("model_accuracy", record["accuracy"])
    ctx.metrics.set("last_round", record["round"])


async def advance(ctx: NodeContext) -> None:
    """Open the next round if the chain lets us; say so (log and status, once per change)
    when it waits for participants."""
    # one gas estimate each; "first": the first round's opening (node/advance_turn.py)
    ctx.metrics.inc("advance_calls_total", round="first" if ctx.current_round == 0 else "next")
    try:
        if await ctx.chain_port.advance():
            ctx.metrics.inc("advances_sent_total")
            return
        # Rejected without a transaction: another node advanced first (RoundInProgress)
        # or NotEnoughParticipants(active, required). Discovery keeps the active peer ids.
        need = (await ctx.chain_port.params()).min_participants
    except ChainError as exc:  # e.g. the RPC endpoint is down: the loop retries
        log.debug("advance: %s", exc)
        return
    have = len(ctx.registered_peers)
    if have < need:
        await register_again_if_lost(ctx)
        waiting = f"waiting for {need} participants, {have} active"
        if ctx.phase != waiting:
            log.info("%s (a round opens once %d nodes have staked)", waiting, need)
            write_status(ctx, waiting)


async def register_again_if_lost(ctx: NodeContext) -> None:
    """Register again if the registry lacks this node: a chain restarted from a state
    saved before our registration lost it, and the round waits for us."""
    try:
        if await ctx.chain_port.participant() is not None:
            return
        log.warning("this node is not in the registry (the chain lost it): registering again")
        ctx.metrics.inc("registrations_lost_by_chain_total")
        addrs = ctx.net.listen_addrs()
        await ctx.chain_port.ensure_registered(ctx.cfg.stake, ctx.net.peer_id, addrs)
    except ChainError as exc:
        log.warning("registering again: %s", exc)


def ready_to_advance(info: RoundInfo, now: int, late_vote_grace: int) -> bool:
    """Whether this node should move the round clock past round ``info``.

    The contract keeps a finalized round current for late voters (they earn the voter
    share) until all the stake voted for the outcome or the chain's ``late_vote_grace``
    after finalization (``GraceActive`` before): checked here too only to spare a
    reverting call. A round still open is advanced (and so failed) only after its vote
    deadline.
    """
    if info.status is RoundStatus.FINALIZED:
        return now >= info.grace_ends_at(late_vote_grace)
    if info.status is RoundStatus.OPEN:
        return now >= info.vote_deadline
    return True


async def take_part(ctx: NodeContext, info: RoundInfo) -> bool:
    """Run (or resume, or catch up on) one round; False if it failed with an error."""
    write_status(ctx, f"round {info.round}")
    try:
        record = await run_round(ctx, info)
    except RoundLost as exc:
        # The chain has nothing of the round (its opening is lost): safe to start afresh.
        log.warning("%s; taking part again once it reopens", exc)
        ctx.metrics.inc("rounds_lost_by_chain_total")
        ctx.state.forget(exc.round)
        return False
    except FedchainError as exc:
        log.error("round %d: %s", info.round, exc)
        ctx.metrics.inc("round_errors_total")
        return False
    count_round(ctx, record)  # the stake metric and garbage collection: tidy_up, later
    log.info(
        "round %d %s: verified %d, model %s, accuracy %s",
        info.round,
        record["status"],
        record["verified"],
        record["finalized_cid"],
        record["accuracy"],
    )
    write_status(ctx, "idle")
    return True


async def unfinished_rounds(ctx: NodeContext, current: int) -> list[int]:
    """Earlier rounds this node started (or missed since it first joined) but never recorded."""
    first = ctx.state.first_round()
    if first is None:
        return []
    return [k for k in range(first, current) if not ctx.state.get(k).done]


async def round_loop(ctx: NodeContext) -> None:
    with ctx.rounds_scope:  # cancelled by the first stop signal (see stop_on_signal)
        with one_error():
            async with trio.open_nursery() as ahead:  # overlapped rounds (node/ahead.py)
                staleness = ctx.chain_port.deployment.training.staleness
                train = partial(train_ahead, ctx)
                ctx.ahead = AheadTraining(ahead, train, ctx.metrics.inc, staleness)
                await take_rounds(ctx)
                if ctx.claims is not None:
                    await ctx.claims.drain()  # the last rounds' claims before lingering
                ahead.cancel_scope.cancel()
        if not finished_phase(ctx):  # stopped by max_rounds: say if the chain finished too
            await deployment_finished(ctx)
        if ctx.cfg.linger:
            # Done taking part, still serving blobs (others may be fetching ours) until stopped.
            write_status(ctx, ctx.phase if finished_phase(ctx) else "lingering")
            await trio.sleep_forever()
    if ctx.rounds_scope.cancel_called:
        await trio.sleep_forever()  # still serving; stop_on_signal ends the node


async def late_vote_grace(ctx: NodeContext, r: int, cache: dict[int, int]) -> int:
    """The chain's late-vote grace for round ``r`` (parameters change only when a round
    opens: read once per round)."""
    if r not in cache:
        cache.clear()
        cache[r] = (await ctx.chain_port.params()).late_vote_grace
    return cache[r]


async def chores(ctx: NodeContext, r: int) -> None:
    """Report inactive stakers after a failed round, sweep rounds whose claims ended."""
    try:
        await upkeep(ctx, r)
    except ChainError as exc:
        log.warning("round %d upkeep: %s", r, exc)


def finished_phase(ctx: NodeContext) -> bool:
    """Whether the status says the deployment finished (kept when the node lingers/stops)."""
    return ctx.phase.startswith("finished")


async def deployment_finished(ctx: NodeContext) -> bool:
    """Whether the chain's stop rule finished the deployment (no round opens any more); if
    so, say how in the log and the status (the node then lingers or stops)."""
    try:
        end = await ctx.chain_port.deployment_end()
    except ChainError as exc:
        log.debug("stop rule: %s", exc)
        return False
    if end is None:
        return False
    reason = end.reason.name.lower().replace("_", " ")
    log.info(
        "deployment finished by the chain's stop rule: round %d (%s, agreed metric %.2f%%), "
        "final model %s (fedchain model export --final)",
        end.round,
        reason,
        end.metric_bps / 100,
        end.model_cid,
    )
    ctx.metrics.set("deployment_finished", 1)
    write_status(ctx, f"finished: round {end.round} ({reason})")  # short: the demo table shows it
    return True


async def take_rounds(ctx: NodeContext) -> None:
    taken_part = 0
    reconciled = -1
    upkept = 0  # the round after whose part the chores ran
    grace: dict[int, int] = {}
    turns = AdvanceTurns(ctx.address, partial(round_committers, ctx))  # who advances first
    recheck = Recheck(ctx)  # when to read back our vote in a round we finished
    finished_checked = 0  # the last finalized round after which we asked whether it was the last
    untidy: int | None = None  # the last round taken part in, until tidy_up ran after it
    while not (ctx.cfg.max_rounds and taken_part >= ctx.cfg.max_rounds):
        seen = block_seen(ctx)
        r = await ctx.chain_port.current_round()
        ctx.current_round = r
        if r != reconciled:  # at start-up and once per round: claims the chain lost
            if ctx.claims is not None:  # sent beside the round (node/claims.py)
                ctx.claims.reconcile(r)
            else:
                await reconcile_claims(ctx, r)
            reconciled = r
        for past in await unfinished_rounds(ctx, r):  # after a crash or downtime
            if await take_part(ctx, await ctx.chain_port.round_info(past)):
                taken_part, untidy = taken_part + 1, past
        if r == 0:
            await advance(ctx)
            await next_block(ctx, seen)
            continue
        info, now = await ctx.chain_port.round_view(r)
        row = ctx.state.get(r)
        resumable = info.status is RoundStatus.FINALIZED and row.base_cid is not None
        live = info.status is RoundStatus.OPEN and now < info.vote_deadline
        if not row.done and (live or resumable):
            if await take_part(ctx, info):
                taken_part, untidy = taken_part + 1, r
            else:
                await next_block(ctx, seen)
            continue
        if row.done and row.opened_at not in (None, info.opened_at):
            log.warning("round %d: the chain lost it and opened it again; taking part", r)
            ctx.metrics.inc("rounds_lost_by_chain_total")
            ctx.state.forget(r)
            continue
        # the advance first: the round after a finalized one opens that much sooner (a
        # finished deployment refuses it, DeploymentOver, and is noticed just below)
        wait = await late_vote_grace(ctx, r, grace) if info.status is RoundStatus.FINALIZED else 0
        if ready_to_advance(info, now, wait):
            delay = await turns.delay(info, row.committed)
            if ready_to_advance(info, now - delay, wait):
                await advance(ctx)
        if row.done and info.status is RoundStatus.FINALIZED and finished_checked != r:
            finished_checked = r
            if await deployment_finished(ctx):
                return
        if row.done and row.voted and info.vote_open(now) and recheck.due():
            await keep_finished_vote(ctx, r)  # the chain lost the votes that finalized it
        if untidy is not None:
            await tidy_up(ctx, untidy)
            untidy = None
        if upkept != r:  # after the advance: the first to advance opens the round sooner
            upkept = r
            await chores(ctx, r)
        await next_block(ctx, seen)


PORT_FILE = "listen.port"


def remembered_port(data_dir: Path, host: str) -> int:
    """The port this node listened on last time, if still free: the registry's addresses
    stay valid across restarts. 0 (any free port) otherwise."""
    try:
        port = int((data_dir / PORT_FILE).read_text())
    except (OSError, ValueError):
        return 0
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return 0
    return port


def remember_port(data_dir: Path, addrs: list[str]) -> None:
    for addr in addrs:
        parts = addr.split("/")
        if "tcp" in parts:
            (data_dir / PORT_FILE).write_text(parts[parts.index("tcp") + 1])
            return


async def run_node(
    cfg: NodeConfig, chain: ChainClient | None = None, behaviour: UpdateBehaviour | None = None
) -> None:
    """Run the node until stopped; ``chain`` when the caller already unlocked the key;
    ``behaviour``: honest unless a simulation's composition root (node/attacks) passes one."""
    behaviour = behaviour or UpdateBehaviour()
    profiling.start(cfg.data_dir)  # FEDCHAIN_PROFILE=<dir>: off unless set
    if chain is None:
        chain = open_account(cfg)
    deployment = chain.deployment
    task = get_task(cfg.task)
    if deployment.task_id != task.name:
        raise ConfigError(
            f"config task {task.name!r} but the deployment runs {deployment.task_id!r}"
        )
    genesis = encode_model(genesis_params(task))
    if compute_cid(genesis) != deployment.genesis_model_cid:
        raise ConfigError("this node's genesis model does not match the deployment's genesis CID")
    problems = deployment.training.problems() + dp_problems(deployment.training)
    if problems:
        raise ConfigError("deployment file: " + "; ".join(problems))
    privacy_step.warm_accountant(deployment.training)  # opacus' import, while data loads
    train, test = train_test_split(task.load_all(), SPLIT_SEED)
    local = partition_by_spec(
        train, cfg.partition, cfg.partition_index, cfg.partition_count, cfg.partition_seed
    )
    local = behaviour.training_data(train, local)
    del train  # the node keeps its own partition only (~12 MB less for MNIST 5k)
    state = NodeState(cfg.data_dir / "state.sqlite")
    served = False
    try:
        async with open_network(
            data_dir=cfg.data_dir,
            listen_host=cfg.listen_host,
            listen_port=cfg.listen_port or remembered_port(cfg.data_dir, cfg.listen_host),
        ) as net:
            remember_port(cfg.data_dir, net.listen_addrs())
            await net.add_blob(genesis)
            await trio.to_thread.run_sync(
                lambda: chain.ensure_registered(cfg.stake, net.peer_id, net.listen_addrs())
            )
            ctx = NodeContext(
                rule=build_rule(*deployment.rule_for(cfg.rule, cfg.byzantine_f)),
                cfg=cfg,
                chain=chain,
                net=net,
                state=state,
                task=task,
                train_data=local,
                behaviour=behaviour,
                test_data=test,
                deployment_id=f"{deployment.chain_id}:{deployment.coordinator}",
                genesis_cid=deployment.genesis_model_cid,
                topic=f"/fedchain/{deployment.chain_id}/{deployment.coordinator.lower()}/updates/1",
            )
            ctx.link.on_change = lambda: write_status(ctx, ctx.phase)
            ctx.report = partial(write_status, ctx)
            await serve(ctx, net)
            served = True
    except Exception as exc:  # noqa: BLE001 - see below
        # py-libp2p can raise from its own service teardown (e.g. "Nursery is closed to
        # new arrivals") after our work finished and the state is on disk: log, don't crash.
        if not served or isinstance(exc, FedchainError):
            raise
        log.warning("p2p shutdown was not clean: %r", exc)
    finally:
        state.close()


async def serve(ctx: NodeContext, net: PeerNetwork) -> None:
    active = [p for p in await ctx.chain_port.participants() if p.active]
    ctx.registered_peers.update(p.peer_id for p in active)
    ctx.peer_ids = {p.address.lower(): p.peer_id for p in active}
    net.set_gossip_policy(ctx.topic, gossip_policy(ctx))
    net.set_registered(ctx.registered_peers.__contains__)  # block-stream slots: registry only
    log.info("node %s (peer %s) listening on %s", ctx.address, net.peer_id, net.listen_addrs())
    write_status(ctx, "starting")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, ctx, nursery.cancel_scope)
        endpoint = partial(
            serve_status,
            ctx.cfg.data_dir,
            ctx.cfg.status_host,
            ctx.cfg.status_port,
            lambda: ctx.metrics.render(ctx.net.metrics),
            lambda: json.dumps(status_document(ctx, ctx.phase)),
        )
        await nursery.start(endpoint)
        ops = operator_ops(ctx.chain, ctx.cfg.data_dir, ctx.claim_lock)
        await nursery.start(partial(serve_control, ctx.cfg.data_dir, ops))
        if ctx.cfg.ipfs_api:
            send, receive = trio.open_memory_channel[bytes](PIN_QUEUE)
            ctx.blobs.pin_queue = send
            pinner = KuboPinner(ctx.cfg.ipfs_api, metrics=net.metrics)
            nursery.start_soon(pin_blobs, pinner, receive)
        if ctx.cfg.chain_watch:
            from node.chain.watch import ChainWatch, settle_events  # trio-websocket when used

            watch = ChainWatch(
                ctx.chain.rpc_url,
                poll_interval=min(1.0, ctx.cfg.poll_interval),
                logs=settle_events(ctx.chain.deployment.coordinator),  # wakes observers
            )
            await nursery.start(watch.run)
            ctx.watch = watch
        ctx.claims = ClaimQueue(ctx)  # claims beside the rounds, off their critical path
        nursery.start_soon(ctx.claims.run)
        nursery.start_soon(discover_peers, ctx)
        ctx.announcements = AnnouncementFeed(ctx, nursery)  # joined on a committee
        await round_loop(ctx)
        nursery.cancel_scope.cancel()
    write_status(ctx, f"stopped ({ctx.phase})" if finished_phase(ctx) else "stopped")
    log.info("node stopped")


async def pin_blobs(pinner: KuboPinner, blobs: trio.MemoryReceiveChannel[bytes]) -> None:
    """Pin each round's update and model to a Kubo daemon; failures are logged, never fatal."""
    async for blob in blobs:
        await pinner.pin(blob)


async def stop_on_signal(ctx: NodeContext, scope: trio.CancelScope) -> None:
    """SIGINT/SIGTERM: stop taking part in rounds (state is on disk before every action).

    If this node committed an update in the current round, others may still be fetching
    it: keep serving blobs until the round's exchange deadline, then stop. A second
    signal stops at once.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            async for signum in signals:
                name = signal.Signals(signum).name
                if ctx.rounds_scope.cancel_called:
                    log.info("%s again: stopping now", name)
                    scope.cancel()
                    return
                log.info("%s received: shutting down (again to stop at once)", name)
                ctx.rounds_scope.cancel()
                nursery.start_soon(serve_then_stop, ctx, scope)


async def serve_then_stop(ctx: NodeContext, scope: trio.CancelScope) -> None:
    r = ctx.current_round
    with trio.CancelScope() as serving:
        while True:
            seen = block_seen(ctx)
            left = await serving_left(ctx, r)
            if left is None:
                break
            end, seconds = left
            # bounds the wait by the local clock too, should the chain become unreachable
            serving.deadline = min(serving.deadline, trio.current_time() + seconds)
            when = datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds")
            phase = f"stopping: serving blobs until {when} (round {r} exchange deadline)"
            if ctx.phase != phase:
                log.info("%s; signal again to stop now", phase)
                write_status(ctx, phase)
            await next_block(ctx, seen)
    if ctx.claims is not None:  # the claims of the rounds just recorded, if they go quickly
        with trio.move_on_after(CLAIMS_DRAIN_S):
            await ctx.claims.drain()
    scope.cancel()


async def serving_left(ctx: NodeContext, r: int) -> tuple[int, int] | None:
    """(chain time, seconds left) until which peers may still fetch this node's update of
    round ``r``: the exchange deadline, which moves earlier if the commit window closes
    early. None once it passed, or if this node has no update in a live round."""
    row = ctx.state.get(r)
    if r < 1 or row.done or row.update_cid is None:
        return None
    if await ctx.chain_port.commitment_cid(r, ctx.address) is None:
        return None
    info, now = await ctx.chain_port.round_view(r)
    if info.status not in (RoundStatus.OPEN, RoundStatus.FINALIZED):
        return None
    end = info.vote_opens_at + (info.vote_deadline - info.vote_opens_at) // 2
    return (end, end - now) if now < end else None
