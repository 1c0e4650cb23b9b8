"""Composition root: one trio nursery owns the network, discovery, gossip and the round loop.

The parts it starts: node/peer_discovery.py (registry peers, gossip policy),
node/round_loop.py (rounds, advancing, chores), node/status_file.py (the status
document), node/shutdown.py (stop signals).
"""

from __future__ import annotations

import json
import logging
import socket
from functools import partial
from pathlib import Path

import trio

from node import profiling
from node.aggregate.registry import build_rule
from node.announcements import AnnouncementFeed
from node.behaviour import UpdateBehaviour
from node.chain.client import ChainClient
from node.claims import ClaimQueue
from node.config import NodeConfig
from node.context import NodeContext
from node.control import operator_ops, serve_control
from node.errors import ConfigError, FedchainError
from node.learning.local import genesis_params
from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split
from node.learning.tasks import get_task
from node.p2p.network import PeerNetwork, open_network
from node.peer_discovery import discover_peers, gossip_policy
from node.pinning import KuboPinner
from node.privacy import step as privacy_step
from node.privacy.bound import dp_problems
from node.round_loop import finished_phase, ready_to_advance, round_loop
from node.shutdown import stop_on_signal
from node.startup import open_account
from node.state import NodeState
from node.status_file import flush_status, status_document, write_status
from node.status_server import serve_status
from node.store.cid import compute_cid
from node.update.codec import encode_model

__all__ = ["ready_to_advance", "run_node"]  # ready_to_advance: tests import it from here

log = logging.getLogger(__name__)

PIN_QUEUE = 16


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
            registered = await trio.to_thread.run_sync(
                lambda: chain.ensure_registered(cfg.stake, net.peer_id, net.listen_addrs())
            )
            if registered and state.first_round() is None:
                # the first round this stake may take part in is this node's to record, even
                # when it ends before the round loop first looks (round_loop.unfinished_rounds)
                first = (await trio.to_thread.run_sync(chain.stake_info)).active_from
                if first > 0:
                    state.update(first)
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
        nursery.start_soon(flush_status, ctx)  # phase changes: at most one write a second
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
    write_status(ctx, f"stopped ({ctx.phase})" if finished_phase(ctx) else "stopped", at_once=True)
    log.info("node stopped")


async def pin_blobs(pinner: KuboPinner, blobs: trio.MemoryReceiveChannel[bytes]) -> None:
    """Pin each round's update and model to a Kubo daemon; failures are logged, never fatal."""
    async for blob in blobs:
        await pinner.pin(blob)
