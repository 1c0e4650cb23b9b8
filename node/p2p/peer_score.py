"""Our score per directly connected peer: what each kind of abuse costs, and when a peer
is cut off (``GRAYLIST_SCORE``; node/p2p/peer_gate.py disconnects and refuses it)."""

from __future__ import annotations

import time
from collections.abc import Callable

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
# Bitswap abuse (node/store/bitswap.py ``bitswap.rejected.<reason>``), charged to the peer
# that sent it (``bitswap.charged.<reason>``) through the same score and cut-off, so a
# Bitswap-only attacker is disconnected like a gossip flooder. Want-list reasons are charged
# once per message, however many entries in it broke the limit; blocks once per block.
# Never charged, since honest peers do them: asking for blocks we lack (DONT_HAVE), asking
# for more bytes than we queue at once (``queue_full``: an honest fetch of a big blob
# does; the rest is answered when it asks again), a block that lands after its fetch gave
# up (``late_block``).
BITSWAP_PENALTIES = {
    "peer_streams": 10.0,  # an inbound stream over PEER_STREAMS at once (honest peers hold 1)
    "message_wants": 10.0,  # a message of more than MAX_MESSAGE_WANTS entries
    "duplicate_want": 5.0,  # the same CID twice in one message
    "want_rate": 5.0,  # wants over WANT_RATE a second
    "peer_wants": 2.0,  # wants remembered over MAX_PEER_WANTS (a Kubo full want-list may)
    "bad_cid": 20.0,  # a want-list entry that is no CID
    "bad_frame": 50.0,  # a length prefix that is no varint
    "oversize": 50.0,  # a frame over the message size limit
    "garbage": 50.0,  # a frame that is no protobuf
    "half_frame": 10.0,  # a frame that stalled half way (FRAME_TIMEOUT; maybe a stalled peer)
    "unsolicited_block": 5.0,  # a block no fetch of ours wanted (nor gave up on lately)
    "block_mismatch": 50.0,  # a block the store refuses (poisoned: over the size limit)
    # a message of ours left unread for SEND_TIMEOUT (node/store/sendqueue.py): the stream
    # is reset and what was queued for the peer dropped. An honest peer reads continuously;
    # it takes 5-6 stalls in a row (each >= 5 s of not reading a byte) to be cut off.
    "send_stall": 20.0,
}
# /fedchain/blocks/1 (node/store/blockstream.py ``blockstream.refused.<reason>``, charged as
# ``blockstream.charged.<reason>``). An honest peer meets a few refusals (a peer that just
# registered, before our registry copy has it: discovery re-reads it within seconds;
# parallel fetches from one provider over its PEER_STREAMS, or a new stream opened before
# the provider has ended the last one): each peer has FREE_REFUSALS (16) uncharged, one
# more every 5 s; beyond them a refusal costs 2 (a refused stream costs us a negotiation
# and a reset), so about 66 in quick succession cut a peer off. A client
# that leaves our data unread (``write_stall``) held a serving slot for seconds: an honest
# client reads until it resets the stream (BlockStreamClient resets every stream it stops
# reading), so it costs what a Bitswap send stall does. A request sent slowly
# (``request_timeout``) is not charged: on busy cores honest clients are late to send it.
BLOCKSTREAM_PENALTIES = {
    "unregistered": 2.0,
    "peer_streams": 2.0,
    "write_stall": 20.0,
}
DEFAULT_PENALTY = 10.0
GRAYLIST_SCORE = -100.0
SCORE_RECOVERY = 0.5


def penalty(reason: str, forwarder: str, signer: str) -> float:
    """What a rejected message costs the peer that delivered it."""
    if reason in SIGNER_ONLY and forwarder != signer:
        return 0.0
    return PENALTIES.get(reason, DEFAULT_PENALTY)


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
