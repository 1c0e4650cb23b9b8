"""Gossipsub topics: signed publish, size limits, per-topic validators, metrics.

Every message is signed by its author (``strict_signing``: py-libp2p drops unsigned
or badly signed messages before any validator runs). On top of that each topic gets
one validator of ours that drops messages over ``MAX_MESSAGE_SIZE`` and then asks the
caller's ``fn(sender, data) -> reason | None``; every rejection is logged with its
reason and counted in ``metrics["gossip.rejected.<reason>"]``. Messages that pass
are fanned out to every channel returned by ``subscribe``.

Blobs never travel over gossip (py-libp2p 0.8.1 silently drops RPCs over 1 MiB):
gossip carries CIDs, Bitswap carries content.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from node.errors import NetworkError

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 64 * 1024
SUBSCRIBER_BUFFER = 256

# fn(sender peer id, data) -> rejection reason (a short metric label), or None to accept
Validator = Callable[[str, bytes], str | None]


@dataclass(frozen=True)
class GossipMessage:
    topic: str
    sender: str  # base58 peer id of the original signer
    data: bytes


class Gossip:
    """One node's gossipsub router with our validation and fan-out on top."""

    def __init__(self, host: IHost, metrics: Counter[str]) -> None:
        self.metrics = metrics
        self.router = GossipSub(
            protocols=[PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID],
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=1,  # go-libp2p's default; py-libp2p defaults to 120 s
            # per-forwarder rate limit; 10/s (the default) is tight for round bursts
            max_messages_per_topic_per_second=100.0,
            # IP diversity is meaningless when every peer is on one host (devnet)
            eclipse_protection_enabled=False,
        )
        self.pubsub = Pubsub(host, self.router, strict_signing=True)
        self._validators: dict[str, Validator] = {}
        self._subscribers: dict[str, list[trio.MemorySendChannel[GossipMessage]]] = {}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with background_trio_service(self.pubsub), background_trio_service(self.router):
            await self.pubsub.wait_until_ready()
            yield

    def set_validator(self, topic: str, fn: Validator) -> None:
        """Install ``fn`` for ``topic`` (replaces any earlier one)."""
        self._validators[topic] = fn

    def _check(self, topic: str, sender: str, data: bytes) -> str | None:
        if len(data) > MAX_MESSAGE_SIZE:
            return "oversize"
        fn = self._validators.get(topic)
        if fn is None:
            return None
        try:
            return fn(sender, data)
        except Exception:  # a buggy validator must not take the node down
            log.exception("gossip validator for %s raised", topic)
            return "validator_error"

    def _make_pubsub_validator(self, topic: str) -> Callable[[ID, rpc_pb2.Message], bool]:
        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            sender = ID(msg.from_id).to_base58()
            reason = self._check(topic, sender, msg.data)
            if reason is None:
                return True
            self.metrics[f"gossip.rejected.{reason}"] += 1
            log.info(
                "gossip: rejected message on %s from %s (via %s): %s",
                topic,
                sender,
                forwarder.to_base58(),
                reason,
            )
            return False

        return validate

    async def subscribe(
        self, topic: str, nursery: trio.Nursery
    ) -> trio.MemoryReceiveChannel[GossipMessage]:
        send, receive = trio.open_memory_channel[GossipMessage](SUBSCRIBER_BUFFER)
        first = topic not in self._subscribers
        self._subscribers.setdefault(topic, []).append(send)
        if first:
            self.pubsub.set_topic_validator(
                topic, self._make_pubsub_validator(topic), is_async_validator=False
            )
            subscription = await self.pubsub.subscribe(topic)
            nursery.start_soon(self._pump, topic, subscription)
        return receive

    async def _pump(self, topic: str, subscription: object) -> None:
        get = subscription.get  # type: ignore[attr-defined]
        while True:
            msg: rpc_pb2.Message = await get()
            message = GossipMessage(topic=topic, sender=ID(msg.from_id).to_base58(), data=msg.data)
            for send in list(self._subscribers.get(topic, [])):
                try:
                    send.send_nowait(message)
                except trio.WouldBlock:
                    self.metrics["gossip.dropped.slow_subscriber"] += 1
                    log.warning("gossip: subscriber on %s is full; dropped a message", topic)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._subscribers[topic].remove(send)

    async def publish(self, topic: str, data: bytes) -> None:
        if len(data) > MAX_MESSAGE_SIZE:
            raise NetworkError(
                f"gossip message of {len(data)} bytes exceeds the {MAX_MESSAGE_SIZE}-byte "
                "limit; put the payload in a blob and gossip its CID"
            )
        reason = self._check(topic, self.pubsub.my_id.to_base58(), data)
        if reason is not None:
            raise NetworkError(f"gossip message on {topic} rejected by our own validator: {reason}")
        await self.pubsub.publish(topic, data)
        self.metrics["gossip.published"] += 1

    def mesh_peers(self, topic: str) -> set[str]:
        return {p.to_base58() for p in self.router.mesh.get(topic, set())}

    def topic_peers(self, topic: str) -> set[str]:
        """Peers we know to be subscribed to ``topic`` (mesh or not)."""
        return {p.to_base58() for p in self.pubsub.peer_topics.get(topic, set())}

    async def wait_for_mesh(self, topic: str, min_peers: int, timeout: float) -> None:
        """Block until our mesh for ``topic`` holds ``min_peers`` peers (NetworkError if not)."""
        with trio.move_on_after(timeout):
            while len(self.router.mesh.get(topic, ())) < min_peers:
                await trio.sleep(0.05)
            return
        raise NetworkError(
            f"gossip mesh for {topic!r} has {len(self.router.mesh.get(topic, ()))} peers "
            f"after {timeout:g}s, wanted {min_peers}"
        )
