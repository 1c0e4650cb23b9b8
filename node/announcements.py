"""The announcement topic, subscribed only while this node sits on a round's committee.

Announcements ("I hold update ``cid`` of ``author`` for round r") matter only to the
round's committee members, who fetch, verify and vote on those updates; a node drawn out of
the round (an observer) fetches no update. Yet a subscriber receives every announcement
from each of its mesh peers and forwards it to the others: at 32 nodes and K = 8, each of
the 24 observers received ~200 message copies a round and sent as many, over half of its
CPU. So a node subscribes when the round loop finds it selected and leaves the topic when
it is not (``follow``); with no committee (K = 0, or fewer active nodes than K) every node
is selected and stays subscribed. Members reach each other through the overlay (and the
committee dials of the exchange); an announcement that misses a member costs it only a
provider hint, never safety: the author's registry address is always tried.

A small update rides its author's announcement (a ``push``, ``node/store/pushed.py``). The
gossip layer drops a push whose signer is not its author's registered peer, when this node
knows that peer (``admit``); the listener holds a push only once it checked that against
the registry (``accept_push``), so nobody fills another author's place in the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from node.errors import FedchainError
from node.p2p.messages import MAX_INLINE_BLOB, Announcement, MessageRejected, Push
from node.p2p.messages import decode as decode_announcement
from node.p2p.messages import encode as encode_message
from node.p2p.network import GossipMessage

if TYPE_CHECKING:
    from node.context import NodeContext

log = logging.getLogger(__name__)


async def announce(ctx: NodeContext, r: int, author: str, cid: str) -> None:
    message = Announcement(round=r, author=author, cid=cid, providers=(ctx.net.peer_id,))
    await _publish(ctx, r, message)


def push_soon(ctx: NodeContext, r: int, cid: str, blob: bytes) -> None:
    """Push this node's update as its commit is sent, in the background, if it is small: it
    reaches the members before they see the commitment land (and start a fetch)."""
    if len(blob) <= push_limit(ctx):
        ctx.net.start_soon(in_background, push_or_announce, ctx, r, cid, blob)


async def in_background(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """``fn(*args)`` as a task beside the network, whose errors must not stop it."""
    try:
        await fn(*args)
    except Exception:  # noqa: BLE001 - logged; a gossip message is never worth the node
        log.exception("%s failed", getattr(fn, "__name__", fn))


def push_limit(ctx: NodeContext) -> int:
    return min(MAX_INLINE_BLOB, ctx.cfg.push_max_bytes)


async def push_or_announce(ctx: NodeContext, r: int, cid: str, blob: bytes | None = None) -> None:
    """Announce this node's own update ``cid`` of round ``r`` (``blob``, else read from the
    blockstore): the blob itself when it is small enough to ride the announcement, else
    the CID alone; nothing if pushed already (the push announced it)."""
    if cid in ctx.pushed.sent:
        return
    if blob is None:
        blob = await ctx.net.get_local_blob(cid)
    ctx.pushed.expect_pushes = blob is not None and len(blob) <= push_limit(ctx)
    if blob is not None and len(blob) <= push_limit(ctx):
        ctx.pushed.sent[cid] = r  # before the await: the commit's push and the exchange's
        if await _publish(ctx, r, Push(round=r, author=ctx.address, cid=cid, blob=blob)):
            ctx.metrics.inc("updates_pushed_sent_total")
        else:  # announced (or pushed) again when the exchange sees the commitment
            ctx.pushed.sent.pop(cid, None)
    else:
        await announce(ctx, r, ctx.address, cid)


async def _publish(ctx: NodeContext, r: int, message: Announcement | Push) -> bool:
    try:
        await ctx.net.publish(ctx.topic, encode_message(message))
    except FedchainError as exc:
        log.warning("round %d: %s not sent: %s", r, message.kind, exc)
        return False
    return True


def author_peer(ctx: NodeContext, author: str) -> str | None:
    """``author``'s registered peer id as far as this node knows it without a chain call."""
    entry = ctx.committee_peers.get(author)
    return entry.peer_id if entry is not None else ctx.pushed.peers.get(author.lower())


def admit(ctx: NodeContext, sender: str, msg: object) -> str | None:
    """The gossip policy's last check: a push from a signer that is not the author's known
    peer is dropped, and at most a few pushes per signer and round pass."""
    if not isinstance(msg, Push):
        return None
    known = author_peer(ctx, msg.author)
    if known is not None and known != sender:
        return "not_author"
    return ctx.pushed.gate(sender, msg.round)


def relayed(msg: object) -> bool:
    """Whether an accepted message is forwarded to our other mesh peers: none is.

    Its author flood-publishes it to every subscribed peer it is connected to, and a
    round's members dial each other as soon as the committee is drawn
    (node/committee_links.py), so a relayed copy mostly reached members that had it: for a
    push a full copy of the blob (16 nodes, K = 8: ~6 copies of every push per member);
    with announcements relayed, a member received 74 message copies a round at 8 nodes
    and 270 at 32 (K = 8) of the ~20 the members published, 75 % and 60 % duplicates.
    A member the author missed still fetches the update (the author's registry address is
    always tried); one that missed announcements is covered by the abstain rules
    (node/abstain.py: with no announcer heard, the deferred vote reads the chain)."""
    return False


async def accept_push(ctx: NodeContext, sender: str, msg: Push) -> None:
    """Hold ``msg``'s blob once the registry confirms its signer is its author."""
    peer = author_peer(ctx, msg.author)
    if peer != sender:  # unknown, or known before the author changed its peer id
        cid = ctx.pushed.hold_pending(msg.blob)  # a fetch of this committed CID may use it
        try:
            entry = await ctx.chain_port.participant(msg.author)
        except FedchainError as exc:
            log.info("push of %s: registry entry not read: %s", msg.author, exc)
            entry = None
        finally:
            ctx.pushed.drop_pending(cid)
        peer = entry.peer_id if entry is not None and entry.active else None
        if peer is not None:
            ctx.pushed.peers[msg.author.lower()] = peer
    reason = "not_author" if peer != sender else ctx.pushed.add(msg.round, msg.author, msg.blob)
    if reason is not None:
        ctx.metrics.inc("pushes_rejected_total", reason=reason)
        log.info("round %d: push of %s from %s dropped: %s", msg.round, msg.author, sender, reason)
    else:
        ctx.metrics.inc("pushes_held_total")


async def listen_announcements(
    ctx: NodeContext, channel: trio.MemoryReceiveChannel[GossipMessage], nursery: trio.Nursery
) -> None:
    """Providers learned from announcements and pushes (the gossip policy already
    validated them); pushed blobs checked and held in ``nursery``."""
    async for message in channel:
        try:
            msg = decode_announcement(message.data)
        except MessageRejected as exc:  # the policy should have dropped it already
            ctx.metrics.inc("gossip_rejected_total", reason=exc.reason)
            continue
        providers = msg.providers if isinstance(msg, Announcement) else ()
        ctx.providers.setdefault(msg.cid, set()).update({message.sender, *providers})
        ctx.announcers.setdefault(msg.cid, set()).add(message.sender)  # signed: node/abstain.py
        if isinstance(msg, Push) and message.sender != ctx.net.peer_id:  # not our own
            nursery.start_soon(accept_push, ctx, message.sender, msg)


class AnnouncementFeed:
    """This node's subscription to ``ctx.topic``, its listener run in ``nursery``."""

    def __init__(self, ctx: NodeContext, nursery: trio.Nursery) -> None:
        self.ctx = ctx
        self.nursery = nursery
        self._listening: trio.CancelScope | None = None

    @property
    def subscribed(self) -> bool:
        return self._listening is not None

    async def follow(self, selected: bool) -> None:
        """Subscribe if ``selected`` (this node is on the current round's committee), leave
        the topic if not; nothing if it already is where it should be."""
        if selected and self._listening is None:
            channel = await self.ctx.net.subscribe(self.ctx.topic)
            self._listening = await self.nursery.start(self._listen, channel)
            self.ctx.metrics.inc("announcement_topic_joins_total")
        elif not selected and self._listening is not None:
            self._listening.cancel()  # closes the channel: gossip leaves the topic
            self._listening = None
            self.ctx.pushed.discard_through(self.ctx.current_round)

    async def _listen(
        self,
        channel: trio.MemoryReceiveChannel[GossipMessage],
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with trio.CancelScope() as scope, channel:
            task_status.started(scope)
            async with trio.open_nursery() as accepting:
                await listen_announcements(self.ctx, channel, accepting)
