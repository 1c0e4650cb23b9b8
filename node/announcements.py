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
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from node.p2p.messages import MessageRejected
from node.p2p.messages import decode as decode_announcement
from node.p2p.network import GossipMessage

if TYPE_CHECKING:
    from node.context import NodeContext

log = logging.getLogger(__name__)


async def listen_announcements(
    ctx: NodeContext, channel: trio.MemoryReceiveChannel[GossipMessage]
) -> None:
    """Providers learned from announcements (the gossip policy already validated them)."""
    async for message in channel:
        try:
            msg = decode_announcement(message.data)
        except MessageRejected as exc:  # the policy should have dropped it already
            ctx.metrics.inc("gossip_rejected_total", reason=exc.reason)
            continue
        ctx.providers.setdefault(msg.cid, set()).update({message.sender, *msg.providers})
        ctx.announcers.setdefault(msg.cid, set()).add(message.sender)  # signed: node/abstain.py


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

    async def _listen(
        self,
        channel: trio.MemoryReceiveChannel[GossipMessage],
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with trio.CancelScope() as scope, channel:
            task_status.started(scope)
            await listen_announcements(self.ctx, channel)
