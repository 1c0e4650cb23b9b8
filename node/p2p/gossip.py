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

import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub, signature_validator
from libp2p.tools.anyio_service import background_trio_service

from node.errors import NetworkError

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 64 * 1024
SUBSCRIBER_BUFFER = 256

# fn(sender peer id, data) -> rejection reason (a short metric label), or None to accept
Validator = Callable[[str, bytes], str | None]

# Penalty per rejection reason, charged to the peer that delivered the message; a
# peer whose score falls to GRAYLIST_SCORE is blacklisted (its messages are dropped
# unread and pubsub drops it). Scores recover by SCORE_RECOVERY a second.
PENALTIES = {
    "bad_signature": 50.0,
    "oversize": 20.0,
    "not_cbor": 20.0,
    "bad_schema": 20.0,
    "bad_version": 10.0,
    "unknown_kind": 10.0,
    "non_canonical": 20.0,
    "unregistered": 20.0,
    "round_out_of_window": 2.0,  # may be clock skew at a round boundary
    "duplicate": 1.0,
}
DEFAULT_PENALTY = 10.0
GRAYLIST_SCORE = -100.0
SCORE_RECOVERY = 0.5
SEEN_LIMIT = 50_000


@dataclass
class GossipPolicy:
    """Checks every message on a topic must pass before it is delivered or forwarded.

    ``decode(data)`` parses and schema-checks (raising an exception with a ``reason``
    attribute, e.g. ``node.p2p.messages.MessageRejected``) and returns an object with
    a ``round``; ``is_registered(peer_id)`` and ``round_ok(round)`` come from the chain.
    """

    decode: Callable[[bytes], Any]
    is_registered: Callable[[str], bool] | None = None
    round_ok: Callable[[int], bool] | None = None


class PeerScores:
    """Our own score per directly connected peer (py-libp2p 0.8.1's gossipsub scorer
    is not wired to application validators' reasons); decays back toward 0."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._scores: dict[str, tuple[float, float]] = {}

    def get(self, peer: str) -> float:
        score, at = self._scores.get(peer, (0.0, self.clock()))
        return min(0.0, score + (self.clock() - at) * SCORE_RECOVERY)

    def penalize(self, peer: str, reason: str) -> float:
        score = self.get(peer) - PENALTIES.get(reason, DEFAULT_PENALTY)
        self._scores[peer] = (score, self.clock())
        return score

    def snapshot(self) -> dict[str, float]:
        return {peer: round(self.get(peer), 1) for peer in self._scores}


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
        self.pubsub = _CheckedPubsub(self, host, self.router, strict_signing=True)
        self.scores = PeerScores()
        self._validators: dict[str, Validator] = {}
        self._policies: dict[str, GossipPolicy] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._subscribers: dict[str, list[trio.MemorySendChannel[GossipMessage]]] = {}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with background_trio_service(self.pubsub), background_trio_service(self.router):
            await self.pubsub.wait_until_ready()
            yield

    def set_validator(self, topic: str, fn: Validator) -> None:
        """Install ``fn`` for ``topic`` (replaces any earlier one)."""
        self._validators[topic] = fn

    def set_policy(self, topic: str, policy: GossipPolicy) -> None:
        self._policies[topic] = policy

    def _check(self, topic: str, sender: str, data: bytes, *, local: bool = False) -> str | None:
        if len(data) > MAX_MESSAGE_SIZE:
            return "oversize"
        policy = self._policies.get(topic)
        try:
            if policy is not None:
                if policy.is_registered is not None and not policy.is_registered(sender):
                    return "unregistered"
                try:
                    msg = policy.decode(data)
                except Exception as exc:  # noqa: BLE001 - decode's rejection type
                    reason = getattr(exc, "reason", None)
                    if not isinstance(reason, str):
                        raise
                    return reason
                if policy.round_ok is not None and not policy.round_ok(msg.round):
                    return "round_out_of_window"
            fn = self._validators.get(topic)
            if fn is not None:
                reason = fn(sender, data)
                if reason is not None:
                    return reason
        except Exception:  # a buggy validator must not take the node down
            log.exception("gossip validator for %s raised", topic)
            return "validator_error"
        if policy is not None and not local:
            key = hashlib.sha256(topic.encode() + b"\0" + sender.encode() + b"\0" + data).digest()
            if key in self._seen:
                return "duplicate"
            self._seen[key] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        return None

    def reject(self, topic: str, forwarder: ID, sender: str, reason: str) -> None:
        """Count, log and charge one rejected message to the peer that delivered it."""
        self.metrics[f"gossip.rejected.{reason}"] += 1
        name = forwarder.to_base58()
        score = self.scores.penalize(name, reason)
        log.info(
            "gossip: rejected message on %s from %s (via %s): %s; peer score %.1f",
            topic,
            sender,
            name,
            reason,
            score,
        )
        if score <= GRAYLIST_SCORE and not self.pubsub.is_peer_blacklisted(forwarder):
            self.metrics["gossip.graylisted"] += 1
            log.warning("gossip: %s scored %.1f; ignoring it from now on", name, score)
            self.pubsub.add_to_blacklist(forwarder)

    def _make_pubsub_validator(self, topic: str) -> Callable[[ID, rpc_pb2.Message], bool]:
        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            sender = ID(msg.from_id).to_base58()
            local = forwarder == self.pubsub.my_id
            reason = self._check(topic, sender, msg.data, local=local)
            if reason is None:
                return True
            self.reject(topic, forwarder, sender, reason)
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
        reason = self._check(topic, self.pubsub.my_id.to_base58(), data, local=True)
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


class _CheckedPubsub(Pubsub):
    """Pubsub that counts and scores messages with a missing or forged signature
    (py-libp2p drops them silently) before its own checks run."""

    def __init__(self, gossip: Gossip, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gossip = gossip

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        if (
            msg_forwarder != self.my_id
            and not self.is_peer_blacklisted(msg_forwarder)
            and not self._is_msg_seen(msg)
            and not signature_validator(msg)
        ):
            try:
                sender = ID(msg.from_id).to_base58()
            except Exception:  # noqa: BLE001
                sender = "?"
            self._gossip.reject(",".join(msg.topicIDs), msg_forwarder, sender, "bad_signature")
            return
        await super().push_msg(msg_forwarder, msg)
