"""The exchange: fetch and verify every update committed in a round, announce the verified
ones, and the abstain rule for updates other nodes verified but this node could not fetch."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import trio

from node.abstain import REASON as ABSTAIN_REASON
from node.abstain import verified_elsewhere
from node.chain.client import RoundInfo
from node.context import NodeContext
from node.errors import FedchainError, UpdateRejected
from node.fetch import fetch_with_retries, slow_link, stalled_until
from node.learning.fixedpoint import FixedParams
from node.p2p.messages import Announcement
from node.p2p.messages import encode as encode_announcement
from node.store.cid import compute_cid
from node.update.codec import UpdateHeader
from node.verify.checks import Expectation, verify_update

log = logging.getLogger(__name__)


@dataclass
class Verified:
    author: str
    cid: str
    header: UpdateHeader
    delta: FixedParams


# --- models -----------------------------------------------------------------------
async def announce(ctx: NodeContext, r: int, author: str, cid: str) -> None:
    message = Announcement(round=r, author=author, cid=cid, providers=(ctx.net.peer_id,))
    try:
        await ctx.net.publish(ctx.topic, encode_announcement(message))
    except FedchainError as exc:
        log.warning("round %d: announcement not sent: %s", r, exc)


async def fetch_blob_until(ctx: NodeContext, cid: str, author: str, deadline: float) -> bytes:
    """Fetch ``cid`` from its author and announced providers until ``deadline``.

    Each attempt first re-dials the author at the addresses the registry holds now, so an
    author that restarted on a new address, or came back late, is still reached.
    """

    async def providers() -> list[str]:
        author_peer = await refresh_author(ctx, author)
        others = sorted(ctx.providers.get(cid, set()) - {author_peer})
        # the author first; the exchange races several of them and Bitswap at once
        return [author_peer, *others] if author_peer else others

    return await fetch_with_retries(
        ctx.net, cid, providers, deadline, ctx.cfg.fetch_timeout, ctx.metrics
    )


async def refresh_author(ctx: NodeContext, author: str) -> str | None:
    peer = await ctx.call(ctx.chain.participant, author)
    if peer is None:
        return None
    if peer.peer_id not in ctx.net.connected_peers() and peer.addrs:
        await ctx.net.connect(peer.peer_id, list(peer.addrs))
    return peer.peer_id


async def fetch_and_verify(
    ctx: NodeContext, expect: Expectation, cid: str, deadline: float
) -> Verified:
    blob = await ctx.net.get_local_blob(cid)
    if blob is None and slow_link(expect.author, expect.round):
        await stalled_until(deadline)  # test fault: a link too slow to bring this blob
    if blob is None:
        blob = await fetch_blob_until(ctx, cid, expect.author, deadline)
    if compute_cid(blob) != cid:
        raise UpdateRejected("cid_mismatch", f"blob does not hash to committed {cid}")
    header, delta = verify_update(blob, expect)
    return Verified(expect.author, cid, header, delta)


async def exchange_deadline(ctx: NodeContext, r: int) -> float:
    """Trio-clock time until which missing blobs are retried: half the vote window.

    Every honest node waits the same chain-time span, so a blob any of them can get by
    then (from its author or from another node that fetched it) is included by all.
    """
    info = await ctx.call(ctx.chain.round_info, r)
    now = await ctx.call(ctx.chain.chain_time)
    chain_end = info.vote_opens_at + (info.vote_deadline - info.vote_opens_at) / 2
    return trio.current_time() + max(ctx.cfg.fetch_timeout, chain_end - now)


async def exchange(
    ctx: NodeContext, r: int, base_cid: str, shapes: dict[str, tuple[int, ...]]
) -> tuple[list[Verified], dict[str, str]]:
    """Fetch and verify every committed update; returns (verified, rejected author -> reason)."""
    commitments = await ctx.call(ctx.chain.commitments, r)
    own = commitments.get(ctx.address)
    if own is not None:
        await announce(ctx, r, ctx.address, own)
    deadline = await exchange_deadline(ctx, r)
    verified: list[Verified] = []
    rejected: dict[str, str] = {}

    async def one(author: str, cid: str) -> None:
        expect = Expectation(
            deployment=ctx.deployment_id,
            round=r,
            author=author,
            base_cid=base_cid,
            shapes=shapes,
            max_examples=ctx.cfg.max_examples,
            norm_bound=ctx.cfg.norm_bound,
        )
        try:
            verified.append(await fetch_and_verify(ctx, expect, cid, deadline))
            ctx.metrics.inc("updates_accepted_total")
            if author != ctx.address:
                await announce(ctx, r, author, cid)
        except UpdateRejected as exc:
            rejected[author] = exc.reason
            ctx.metrics.inc("updates_rejected_total", reason=exc.reason)
            log.warning("round %d: update of %s rejected: %s", r, author, exc)

    async with trio.open_nursery() as nursery:
        for author, cid in sorted(commitments.items()):
            nursery.start_soon(one, author, cid)
    return sorted(verified, key=lambda v: v.author.lower()), rejected


async def know_eligible(ctx: NodeContext, info: RoundInfo) -> None:
    """Re-read the registry if it holds fewer active peers than the round's eligible count.

    The gossip policy drops announcements from peers missing in ``ctx.registered_peers``,
    and discovery re-reads the registry only when its size changes or every 30 s: a peer
    that registered and then staked could stay missing that long, and its announcements
    (which the abstain rule counts) be dropped in the round that its stake opened.
    """
    if len(ctx.registered_peers) >= info.eligible_count:
        return
    participants = await ctx.call(ctx.chain.participants)
    ctx.registered_peers.clear()
    ctx.registered_peers.update(p.peer_id for p in participants if p.active)


async def missing_verified_updates(
    ctx: NodeContext, r: int, rejected: Mapping[str, str]
) -> dict[str, int]:
    """Updates this node lacks at the exchange deadline that an honest node verified
    (``node/abstain.py``): author -> registered non-author announcers. Non-empty: abstain."""
    lacking = [author for author, why in rejected.items() if why == "unavailable"]
    if not lacking:
        return {}
    commitments = await ctx.call(ctx.chain.commitments, r)
    missing = {a: commitments[a] for a in lacking if a in commitments}
    peers = {a: await ctx.call(ctx.chain.participant, a) for a in missing}
    author_peers = {a: p.peer_id if p else None for a, p in peers.items()}
    return verified_elsewhere(
        missing, ctx.announcers, author_peers, ctx.registered_peers, ctx.rule.f
    )


def abstain(ctx: NodeContext, r: int, held_elsewhere: Mapping[str, int]) -> None:
    """No vote this round: the model this node computed lacks updates others verified."""
    ctx.metrics.inc("votes_abstained_total", reason=ABSTAIN_REASON)
    lacking = ", ".join(f"{a} (announced by {n})" for a, n in sorted(held_elsewhere.items()))
    log.warning(
        "round %d: abstaining: no vote, since other nodes verified updates this node could "
        "not fetch by the exchange deadline: %s",
        r,
        lacking,
    )
