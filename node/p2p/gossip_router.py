"""py-libp2p's Pubsub and GossipSub, subclassed to count, score and bound what peers send:
forged signatures, oversize or garbage RPC frames, excess streams, the per-forwarder rate
limit; and our routing choices (flood publish, no IDONTWANT, pushes not relayed)."""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError
from libp2p.abc import INetStream
from libp2p.exceptions import ValidationError
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub, ValidationResult, signature_validator

from node.stream_cap import PeerStreamCap

if TYPE_CHECKING:
    from node.p2p.gossip import Gossip

MAX_RPC_SIZE = 1 << 20  # py-libp2p's limit on one inbound pubsub RPC frame
PEER_STREAMS = 2  # inbound pubsub streams one peer may hold open at once
BACK_OFF_SLACK_S = 2  # a GRAFT this close to the end of the sender's back-off is accepted
# py-libp2p's validate_msg instead of ours, for A/B benches (docs/bench/hostile.md)
STOCK_VALIDATE = os.environ.get("FEDCHAIN_PUBSUB_STOCK_VALIDATE") == "1"


# The message this process verified the signature of last, until py-libp2p's push_msg,
# which verifies it again (an ed25519 check per new message, the costliest step of a
# gossip message), has looked: it does so before its first await, so no other message
# can come in between.
_verified: list[rpc_pb2.Message | None] = [None]


def signature_verified_once(msg: rpc_pb2.Message) -> bool:
    if msg is _verified[0]:
        _verified[0] = None
        return True
    return bool(signature_validator(msg))


class CheckedPubsub(Pubsub):
    """Pubsub that counts and scores messages with a missing or forged signature
    (py-libp2p drops them silently) before its own checks run."""

    def __init__(self, gossip: Gossip, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gossip = gossip
        self._inbound = PeerStreamCap(PEER_STREAMS)

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

    async def validate_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """py-libp2p's, for topics whose validators are all synchronous (ours are), without
        rendering the message into the ``ValidationError``: its ``f"...{msg}"`` formats the
        whole protobuf as text, 3 ms of CPU for a 32 KiB push and 55 ms for a 577 KiB one,
        paid for every rejected message (and again for each cached rejection)."""
        validators = self.get_msg_validators(msg)
        if STOCK_VALIDATE or any(v.is_async for v in validators):
            await super().validate_msg(msg_forwarder, msg)
            return
        msg_id = self._msg_id_constructor(msg)
        cached = self.validation_cache.get(msg_id)
        if cached is not None:
            if not cached.is_valid:
                raise ValidationError("rejected before (cached)")
            return
        for topic_validator in validators:
            if not topic_validator.validator(msg_forwarder, msg):
                reason = "Synchronous validation failed"
                result = ValidationResult(False, time.time(), reason)
                self.validation_cache.put(msg_id, result)
                raise ValidationError(reason)
        self.validation_cache.put(msg_id, ValidationResult(True, time.time()))

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        self._gossip.metrics["gossip.out.rpcs"] += 1
        self._gossip.metrics["gossip.out.messages"] += len(rpc_msg.publish)
        return await super().write_msg(stream, rpc_msg)

    async def stream_handler(self, stream: INetStream) -> None:
        """At most ``PEER_STREAMS`` inbound pubsub streams per peer (one is the norm);
        each further one is reset and charged (``gossip.transport.excess_streams``)."""
        await self._inbound.run(
            stream, super().stream_handler, lambda peer: self._gossip.charge(peer, "excess_streams")
        )

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


class CheckedGossipSub(GossipSub):
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

    async def handle_graft(self, graft_msg: rpc_pb2.ControlGraft, sender_peer_id: ID) -> None:
        """Accept a GRAFT from a peer whose back-off here ends within ``BACK_OFF_SLACK_S``:
        strict when we GRAFT, lenient when we are grafted (go-libp2p keeps an expired
        back-off ``backoffSlack`` heartbeats longer for its own GRAFTs only). Back-offs end
        on whole seconds (``int(time.time())``) and each side starts its own when it
        handles the PRUNE: without the slack, a node that left the announcement topic and
        was drawn again GRAFTed peers whose back-off for it ended a second later than its
        own, and the peers GRAFTed it a second too soon: both refused with a PRUNE and a
        60 s back-off (test_p2p_topic_leave under CI load)."""
        topic = graft_msg.topicID
        till = self.back_off.get(topic, {}).get(sender_peer_id)
        if till is not None and till <= time.time() + BACK_OFF_SLACK_S:
            del self.back_off[topic][sender_peer_id]
        await super().handle_graft(graft_msg, sender_peer_id)

    def _check_graft_flood_protection(self, peer_id: ID, topic: str) -> bool:
        """A GRAFT is a flood only while its sender is in back-off here (go-libp2p's rule).
        py-libp2p 0.8.1 refuses every GRAFT within 10 s of the sender's last PRUNE,
        whatever back-off that PRUNE announced (``unsubscribe_back_off``, 1 s, when the
        sender left the topic): a member drawn again within 10 s was refused by all."""
        return not self._check_back_off(peer_id, topic)

    def _add_back_off(
        self, peer: ID, topic: str, is_unsubscribe: bool, backoff_duration: int = 0
    ) -> None:
        """On leaving a topic, hold off one second longer than the PRUNE announces, so our
        GRAFTs after a quick re-join land after the peers' back-off for us ended."""
        if is_unsubscribe and backoff_duration <= 0:
            backoff_duration = self.unsubscribe_back_off + 1
        super()._add_back_off(peer, topic, is_unsubscribe, backoff_duration)

    def _check_spam_protection(self, peer_id: ID, msg: rpc_pb2.Message) -> bool:
        if super()._check_spam_protection(peer_id, msg):
            return True
        if peer_id != self._gossip.pubsub.my_id:
            self._gossip.charge(peer_id, "rate_limited")
        return False
