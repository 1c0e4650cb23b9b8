"""Gossipsub topics: signed publish, size limits, per-topic validators, metrics.

Every message is signed by its author (``strict_signing``: py-libp2p drops unsigned
or badly signed messages before any validator runs). On top of that each topic gets
one validator of ours that drops messages over ``MAX_MESSAGE_SIZE`` and then asks the
caller's ``fn(sender, data) -> reason | None``; every rejection is logged with its
reason and counted in ``metrics["gossip.rejected.<reason>"]``. Messages that pass
are fanned out to every channel returned by ``subscribe``.

Big blobs never travel over gossip (py-libp2p 0.8.1 silently drops RPCs over 1 MiB):
gossip carries CIDs, Bitswap carries content; only a small update rides its author's
announcement (a topic's ``GossipPolicy.max_size``; node/store/pushed.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12
from libp2p.pubsub.pb import rpc_pb2
from libp2p.tools.anyio_service import background_trio_service

from node.errors import NetworkError
from node.p2p import rpc_costs
from node.p2p.gossip_policy import MAX_MESSAGE_SIZE, GossipPolicy, Validator, round_reason
from node.p2p.gossip_router import (
    MAX_RPC_SIZE,
    PEER_STREAMS,
    CheckedGossipSub,
    CheckedPubsub,
    signature_verified_once,
)
from node.p2p.peer_score import (
    DEFAULT_PENALTY,
    GRAYLIST_SCORE,
    PENALTIES,
    SIGNER_ONLY,
    PeerScores,
    penalty,
)

# Re-exported: tests, the benches and node/p2p/network.py import these from here.
__all__ = [
    "GRAYLIST_SCORE",
    "MAX_MESSAGE_SIZE",
    "MAX_RPC_SIZE",
    "PEER_STREAMS",
    "PENALTIES",
    "SIGNER_ONLY",
    "Gossip",
    "GossipMessage",
    "GossipPolicy",
    "PeerScores",
    "Validator",
    "penalty",
    "round_reason",
]

log = logging.getLogger(__name__)

SUBSCRIBER_BUFFER = 256
SEEN_LIMIT = 50_000
LOCAL_ONLY_LIMIT = 1024  # accepted messages not to relay, between validation and routing
UNSUBSCRIBE_BACK_OFF = 1  # s a peer that we left waits before grafting us again
LEAVE_CHECK_S = 0.5  # how soon a topic whose receivers were all closed is left


@dataclass(frozen=True)
class GossipMessage:
    topic: str
    sender: str  # base58 peer id of the original signer
    data: bytes


class Gossip:
    """One node's gossipsub router with our validation and fan-out on top."""

    def __init__(self, host: IHost, metrics: Counter[str]) -> None:
        rpc_costs.install()
        pubsub_module.signature_validator = signature_verified_once
        self.metrics = metrics
        self.router = CheckedGossipSub(
            self,
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
            # A node subscribes to the announcement topic only while it sits on a round's
            # committee (node/announcements.py), so it may leave and join again a round
            # later: peers hold off re-grafting it for 1 s after it left, not 10 s.
            unsubscribe_back_off=UNSUBSCRIBE_BACK_OFF,
        )
        self.pubsub = CheckedPubsub(
            self, host, self.router, strict_signing=True, max_inbound_rpc_size=MAX_RPC_SIZE
        )
        self.scores = PeerScores()
        self._validators: dict[str, Validator] = {}
        self._policies: dict[str, GossipPolicy] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._keep_local = False  # set by _check: the message it accepted is not relayed
        self._local_only: OrderedDict[bytes, None] = OrderedDict()  # their msg ids
        self._subscribers: dict[str, list[trio.MemorySendChannel[GossipMessage]]] = {}
        self._joining = trio.Lock()  # one subscribe or unsubscribe at a time
        # called with a peer once its score reaches GRAYLIST_SCORE (node/p2p/network.py
        # disconnects it and refuses it for a cooldown)
        self.on_graylisted: Callable[[ID], None] | None = None

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
        policy = self._policies.get(topic)
        if len(data) > (MAX_MESSAGE_SIZE if policy is None else policy.max_size):
            return "oversize"
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
                if policy.round_ok is not None and (reason := round_reason(policy, msg.round)):
                    return reason
                key = b""
                if not local:  # before admit: a replayed copy must not use up a signer's quota
                    key = _seen_key(topic, sender, data)
                    if key in self._seen:
                        return "duplicate"
                if policy.admit is not None and (reason := policy.admit(sender, msg)):
                    return reason
                self._keep_local = policy.relay is not None and not policy.relay(msg)
            fn = self._validators.get(topic)
            if fn is not None:
                reason = fn(sender, data)
                if reason is not None:
                    return reason
        except Exception:  # a buggy validator must not take the node down
            log.exception("gossip validator for %s raised", topic)
            return "validator_error"
        if policy is not None and not local:
            self._seen[key] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        return None

    def reject(self, topic: str, forwarder: ID, sender: str, reason: str) -> None:
        """Count, log and charge one rejected message to the peer that delivered it (for
        ``SIGNER_ONLY`` reasons only when it signed the message itself)."""
        self.metrics[f"gossip.rejected.{reason}"] += 1
        name = forwarder.to_base58()
        points = penalty(reason, name, sender)
        if points <= 0:
            log.debug(
                "gossip: dropped message on %s from %s (via %s): %s", topic, sender, name, reason
            )
            return
        score = self.scores.penalize(name, reason, points)
        log.info(
            "gossip: rejected message on %s from %s (via %s): %s; peer score %.1f",
            topic,
            sender,
            name,
            reason,
            score,
        )
        self._graylist_if_low(forwarder, score)

    def charge(self, peer: ID, reason: str) -> None:
        """Count and score transport-level abuse (no message to blame a sender for)."""
        points = PENALTIES.get(reason, DEFAULT_PENALTY)
        self.charge_points(peer, f"gossip.transport.{reason}", points)

    def charge_points(self, peer: ID, counter: str, points: float) -> None:
        """Count ``counter`` and take ``points`` off ``peer``'s score: gossip's transport
        abuse, and Bitswap's (``bitswap.charged.<reason>``, node/p2p/network.py)."""
        self.metrics[counter] += 1
        score = self.scores.penalize(peer.to_base58(), counter, points)
        log.info("p2p: %s from %s; peer score %.1f", counter, peer, score)
        self._graylist_if_low(peer, score)

    def _graylist_if_low(self, peer: ID, score: float) -> None:
        if score <= GRAYLIST_SCORE and not self.pubsub.is_peer_blacklisted(peer):
            self.metrics["gossip.graylisted"] += 1
            log.warning("gossip: %s scored %.1f; ignoring it from now on", peer, score)
            self.pubsub.add_to_blacklist(peer)
            if self.on_graylisted is not None:
                self.on_graylisted(peer)

    def forgive(self, peer: ID) -> None:
        """Hear ``peer`` again (its cooldown is over; its score keeps recovering)."""
        if self.pubsub.is_peer_blacklisted(peer):
            self.metrics["gossip.forgiven"] += 1
            self.pubsub.remove_from_blacklist(peer)

    def _make_pubsub_validator(self, topic: str) -> Callable[[ID, rpc_pb2.Message], bool]:
        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            sender = ID(msg.from_id).to_base58()
            local = forwarder == self.pubsub.my_id
            self._keep_local = False
            reason = self._check(topic, sender, msg.data, local=local)
            if reason is None:
                if self._keep_local and not local:
                    self._local_only[_msg_key(msg)] = None
                    if len(self._local_only) > LOCAL_ONLY_LIMIT:
                        self._local_only.popitem(last=False)
                return True
            self.reject(topic, forwarder, sender, reason)
            return False

        return validate

    def take_local_only(self, msg: rpc_pb2.Message) -> bool:
        """Whether ``msg`` was accepted as not to be relayed (asked once, by the router)."""
        return self._local_only.pop(_msg_key(msg), 0) is None

    async def subscribe(
        self, topic: str, nursery: trio.Nursery
    ) -> trio.MemoryReceiveChannel[GossipMessage]:
        """A channel of ``topic``'s validated messages. Closing it (every channel of the
        topic) leaves the topic: no more messages received or relayed for it."""
        send, receive = trio.open_memory_channel[GossipMessage](SUBSCRIBER_BUFFER)
        async with self._joining:
            first = topic not in self._subscribers
            self._subscribers.setdefault(topic, []).append(send)
            if first:
                self.pubsub.set_topic_validator(
                    topic, self._make_pubsub_validator(topic), is_async_validator=False
                )
                subscription = await self.pubsub.subscribe(topic)
                nursery.start_soon(self._pump, topic, subscription)
        return receive

    def subscribed(self, topic: str) -> bool:
        return topic in self.pubsub.topic_ids

    async def _pump(self, topic: str, subscription: object) -> None:
        get = subscription.get  # type: ignore[attr-defined]
        while True:
            with trio.move_on_after(LEAVE_CHECK_S):
                msg: rpc_pb2.Message = await get()
                self._deliver(
                    GossipMessage(topic=topic, sender=ID(msg.from_id).to_base58(), data=msg.data)
                )
            async with self._joining:
                senders = self._subscribers[topic]
                senders[:] = [s for s in senders if s.statistics().open_receive_channels]
                if not senders:  # every receiver closed: leave the topic
                    del self._subscribers[topic]
                    await self.pubsub.unsubscribe(topic)
                    self.metrics["gossip.topics_left"] += 1
                    return

    def _deliver(self, message: GossipMessage) -> None:
        for send in list(self._subscribers.get(message.topic, [])):
            try:
                send.send_nowait(message)
            except trio.WouldBlock:
                self.metrics["gossip.dropped.slow_subscriber"] += 1
                log.warning("gossip: subscriber on %s is full; dropped a message", message.topic)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers[message.topic].remove(send)

    async def publish(self, topic: str, data: bytes) -> None:
        policy = self._policies.get(topic)
        limit = MAX_MESSAGE_SIZE if policy is None else policy.max_size
        if len(data) > limit:
            raise NetworkError(
                f"gossip message of {len(data)} bytes exceeds the {limit}-byte "
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


def _seen_key(topic: str, sender: str, data: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\0" + sender.encode() + b"\0" + data).digest()


def _msg_key(msg: rpc_pb2.Message) -> bytes:
    return bytes(msg.from_id) + b"\0" + bytes(msg.seqno)
