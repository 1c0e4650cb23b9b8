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

import contextlib
import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub, signature_validator
from libp2p.tools.anyio_service import background_trio_service

from node.errors import NetworkError
from node.p2p import rpc_costs

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
    "round_out_of_window": 2.0,  # may be clock skew at a round boundary (signer only)
    "cid_mismatch": 20.0,  # an inline blob that does not hash to its CID
    # transport-level abuse, seen below the validators
    "oversize_rpc": 50.0,  # an RPC frame over MAX_RPC_SIZE: the stream is reset
    "garbage_rpc": 50.0,  # an RPC frame that is not a protobuf
    "rate_limited": 5.0,  # over max_messages_per_topic_per_second
    "excess_streams": 10.0,  # more than PEER_STREAMS inbound pubsub streams at once
    # Not the forwarder's fault, so dropped and counted but never charged (gossipsub's
    # "ignore"): an author our registry copy does not hold yet (a peer that just
    # registered; discovery re-reads the registry within seconds), and any round while
    # we do not know the current one ourselves (just restarted or joined).
    "unregistered": 0.0,
    "round_unknown": 0.0,
    # A round before the window: IWANT replays and late relays of rounds that are over
    # reach a node that just joined the topic (16-41 a node a round at 16 nodes). Stale,
    # never harmful; a round beyond the window still costs round_out_of_window.
    "round_past": 0.0,
    # The same announcement again: a node restarted mid-exchange announces what it
    # announced before the crash (it keeps no record of that). Floods of copies still
    # cost the sender through the per-peer rate limit.
    "duplicate": 0.0,
    # Pushed blobs (node/store/pushed.py), charged only to a signer that delivered its own
    # push (pushes are not relayed, so that is the sender's doing): a push under another
    # author's name, or over the per-signer limit (an honest author pushes once a round,
    # again after a restart). A forwarder may not know the author's registry entry yet, nor
    # have seen the pushes we saw: through one, both stay uncharged (``SIGNER_ONLY``).
    "not_author": 10.0,
    "push_limit": 5.0,
}
# Reasons a forwarder's own view of the chain decides (registry, round): charged only when
# the forwarder signed the message itself, so an honest relay is never scored, let alone
# disconnected (node/p2p/peer_gate.py), for what it forwarded.
SIGNER_ONLY = frozenset({"not_author", "push_limit", "round_out_of_window"})
DEFAULT_PENALTY = 10.0
GRAYLIST_SCORE = -100.0
SCORE_RECOVERY = 0.5
SEEN_LIMIT = 50_000
LOCAL_ONLY_LIMIT = 1024  # accepted messages not to relay, between validation and routing
MAX_RPC_SIZE = 1 << 20  # py-libp2p's limit on one inbound pubsub RPC frame
PEER_STREAMS = 2  # inbound pubsub streams one peer may hold open at once
UNSUBSCRIBE_BACK_OFF = 1  # s a peer that we left waits before grafting us again
LEAVE_CHECK_S = 0.5  # how soon a topic whose receivers were all closed is left


@dataclass
class GossipPolicy:
    """Checks every message on a topic must pass before it is delivered or forwarded.

    ``decode(data)`` parses and schema-checks (raising an exception with a ``reason``
    attribute, e.g. ``node.p2p.messages.MessageRejected``) and returns an object with
    a ``round``; ``is_registered(peer_id)`` and ``round_ok(round)`` come from the chain.
    ``round_known()`` is False while the node does not know the current round yet (just
    started): round-window misses are then dropped as ``round_unknown``, uncharged.
    ``round_past(round)``: whether a round outside the window is before it (dropped as
    ``round_past``, uncharged; a round beyond it is ``round_out_of_window``, charged).
    ``admit(sender, message)``, last, may refuse a decoded message for its sender (a
    rejection reason, or None). ``max_size`` replaces ``MAX_MESSAGE_SIZE`` on the topic.
    ``relay(message)``: whether an accepted message from another peer is forwarded (False:
    delivered here only; ``gossip.relay_skipped``).
    """

    decode: Callable[[bytes], Any]
    is_registered: Callable[[str], bool] | None = None
    round_ok: Callable[[int], bool] | None = None
    round_known: Callable[[], bool] | None = None
    round_past: Callable[[int], bool] | None = None
    admit: Callable[[str, Any], str | None] | None = None
    max_size: int = MAX_MESSAGE_SIZE
    relay: Callable[[Any], bool] | None = None


def penalty(reason: str, forwarder: str, signer: str) -> float:
    """What a rejected message costs the peer that delivered it."""
    if reason in SIGNER_ONLY and forwarder != signer:
        return 0.0
    return PENALTIES.get(reason, DEFAULT_PENALTY)


def round_reason(policy: GossipPolicy, r: int) -> str | None:
    """Why a message of round ``r`` is dropped under ``policy``'s round window, or None."""
    if policy.round_ok is None or policy.round_ok(r):
        return None
    if policy.round_known is not None and not policy.round_known():
        return "round_unknown"
    if policy.round_past is not None and policy.round_past(r):
        return "round_past"
    return "round_out_of_window"


class PeerScores:
    """Our own score per directly connected peer (py-libp2p 0.8.1's gossipsub scorer
    is not wired to application validators' reasons); decays back toward 0."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._scores: dict[str, tuple[float, float]] = {}

    def get(self, peer: str) -> float:
        score, at = self._scores.get(peer, (0.0, self.clock()))
        return min(0.0, score + (self.clock() - at) * SCORE_RECOVERY)

    def penalize(self, peer: str, reason: str, points: float | None = None) -> float:
        cost = PENALTIES.get(reason, DEFAULT_PENALTY) if points is None else points
        score = self.get(peer) - cost
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
        rpc_costs.install()
        pubsub_module.signature_validator = _signature_verified_once
        self.metrics = metrics
        self.router = _CheckedGossipSub(
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
        self.pubsub = _CheckedPubsub(
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
        self.metrics[f"gossip.transport.{reason}"] += 1
        score = self.scores.penalize(peer.to_base58(), reason)
        log.info("gossip: %s from %s; peer score %.1f", reason, peer, score)
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


# The message this process verified the signature of last, until py-libp2p's push_msg,
# which verifies it again (an ed25519 check per new message, the costliest step of a
# gossip message), has looked: it does so before its first await, so no other message
# can come in between.
_verified: list[rpc_pb2.Message | None] = [None]


def _signature_verified_once(msg: rpc_pb2.Message) -> bool:
    if msg is _verified[0]:
        _verified[0] = None
        return True
    return bool(signature_validator(msg))


class _CheckedPubsub(Pubsub):
    """Pubsub that counts and scores messages with a missing or forged signature
    (py-libp2p drops them silently) before its own checks run."""

    def __init__(self, gossip: Gossip, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gossip = gossip
        self._inbound: Counter[ID] = Counter()  # open inbound streams per peer

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        self._gossip.metrics["gossip.in.messages"] += 1
        seen = msg_forwarder != self.my_id and self._is_msg_seen(msg)
        if seen:  # a copy of a message we had: the price of every relay path to us
            self._gossip.metrics["gossip.in.duplicates"] += 1
        if msg_forwarder != self.my_id and not self.is_peer_blacklisted(msg_forwarder) and not seen:
            if not signature_validator(msg):
                try:
                    sender = ID(msg.from_id).to_base58()
                except Exception:  # noqa: BLE001
                    sender = "?"
                self._gossip.reject(",".join(msg.topicIDs), msg_forwarder, sender, "bad_signature")
                return
            _verified[0] = msg  # py-libp2p's own check below need not verify it again
        try:
            await super().push_msg(msg_forwarder, msg)
        finally:
            _verified[0] = None

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        self._gossip.metrics["gossip.out.rpcs"] += 1
        self._gossip.metrics["gossip.out.messages"] += len(rpc_msg.publish)
        return await super().write_msg(stream, rpc_msg)

    async def stream_handler(self, stream: INetStream) -> None:
        """At most ``PEER_STREAMS`` inbound pubsub streams per peer (one is the norm);
        each further one is reset and charged (``gossip.transport.excess_streams``)."""
        peer = stream.muxed_conn.peer_id
        if self._inbound[peer] >= PEER_STREAMS:
            self._gossip.charge(peer, "excess_streams")
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        self._inbound[peer] += 1
        try:
            await super().stream_handler(stream)
        finally:
            self._inbound[peer] -= 1
            if self._inbound[peer] <= 0:
                del self._inbound[peer]

    async def continuously_read_stream(self, stream: INetStream) -> None:
        """The stock read loop, with oversize and garbage RPC frames counted and scored.

        py-libp2p resets the stream of a peer whose RPC frame exceeds the size limit,
        without telling anyone, and lets a protobuf DecodeError end the handler; both
        now cost the peer (``gossip.transport.oversize_rpc`` / ``garbage_rpc``).
        """
        peer = stream.muxed_conn.peer_id
        watched = _ResetWatch(stream)
        try:
            await super().continuously_read_stream(watched)  # type: ignore[arg-type]
        except DecodeError:
            self._gossip.charge(peer, "garbage_rpc")
            with contextlib.suppress(Exception):
                await stream.reset()
            self._handle_dead_peer(peer)
            return
        if watched.reset_by_reader:  # the read loop's only reset: MessageTooLarge
            self._gossip.charge(peer, "oversize_rpc")

    async def _teardown_if_connected(self, peer_id: ID) -> None:
        """py-libp2p 0.8.1 deletes ``self.peers[peer_id]`` after awaiting the stream's
        reset; when the dead-peer handler (the peer disconnected meanwhile) or a second
        teardown removed it first, the ``KeyError`` ended the pubsub service and the node
        with it. Same steps, tolerant of the peer being gone."""
        stream = self.peers.get(peer_id)
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.reset()
            if self.peers.get(peer_id) is stream:
                del self.peers[peer_id]
            else:  # removed meanwhile by another task
                self._gossip.metrics["gossip.teardown_raced"] += 1
        self._forget_all_subscriptions(peer_id)


class _ResetWatch:
    """A pubsub stream that remembers whether the read loop reset it."""

    def __init__(self, stream: INetStream) -> None:
        self._stream = stream
        self.reset_by_reader = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def reset(self) -> None:
        self.reset_by_reader = True
        await self._stream.reset()


class _CheckedGossipSub(GossipSub):
    """GossipSub whose per-forwarder rate limit also costs the forwarder score."""

    def __init__(self, gossip: Gossip, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gossip = gossip

    async def _emit_idontwant_for_message(self, msg_id: bytes, topic_ids: Any) -> None:
        """Send no IDONTWANT. py-libp2p sends one to every mesh peer for every message it
        relays; go-libp2p only for messages of 1 KiB and more (IDontWantMessageThreshold),
        which none of ours is (announcements are a few hundred bytes): for them the
        IDONTWANTs cost more CPU than the duplicates they would save."""

    async def publish(self, msg_forwarder: ID, pubsub_msg: rpc_pb2.Message) -> None:
        """Route a validated message, unless its topic's policy keeps it local (not
        relayed, nor offered in IHAVE gossip; the per-forwarder rate limit still applies)."""
        if msg_forwarder != self._gossip.pubsub.my_id and self._gossip.take_local_only(pubsub_msg):
            if self._check_spam_protection(msg_forwarder, pubsub_msg):
                self._gossip.metrics["gossip.relay_skipped"] += 1
            return
        await super().publish(msg_forwarder, pubsub_msg)

    async def handle_rpc(self, rpc: rpc_pb2.RPC, sender_peer_id: ID) -> None:
        control = rpc.control
        metrics = self._gossip.metrics
        metrics["gossip.in.control"] += 1
        for kind in ("ihave", "iwant", "graft", "prune", "idontwant"):
            n = len(getattr(control, kind))
            if n:
                metrics[f"gossip.in.{kind}"] += n
        await super().handle_rpc(rpc, sender_peer_id)

    def _get_peers_to_send(
        self, topic_ids: Any, msg_forwarder: ID, origin: ID, msg_id: bytes | None = None
    ) -> Any:
        """Flood publish, go-libp2p's default: a message we originate goes to every peer
        we know subscribes to its topic, not only to our mesh. A node joins the
        announcement topic when drawn into a round's committee, and publishes its pushed
        update moments later (node/store/pushed.py), often before heartbeats grafted a
        mesh: sent to the mesh alone, pushes reached some members only through a later
        heartbeat's gossip, after their fetch had started (16 nodes, K = 8). Relayed
        messages still go to the mesh only."""
        peers = set(super()._get_peers_to_send(topic_ids, msg_forwarder, origin, msg_id))
        if origin == self._gossip.pubsub.my_id:
            for topic in topic_ids:
                peers.update(self._gossip.pubsub.peer_topics.get(topic, ()))
            peers.discard(origin)
        return peers

    def _check_spam_protection(self, peer_id: ID, msg: rpc_pb2.Message) -> bool:
        if super()._check_spam_protection(peer_id, msg):
            return True
        if peer_id != self._gossip.pubsub.my_id:
            self._gossip.charge(peer_id, "rate_limited")
        return False
