"""The exchange: fetch and verify every update committed in a round, announce the verified
ones, and the abstain rule for updates other nodes verified but this node could not fetch."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import trio

from node.abstain import REASON as ABSTAIN_REASON
from node.abstain import verified_elsewhere
from node.announcements import announce, in_background, push_or_announce
from node.chain.client import Participant, RoundInfo
from node.context import NodeContext
from node.errors import UpdateRejected
from node.fetch import fetch_with_retries, slow_link, stalled_until
from node.privacy.bound import update_norm_bound
from node.store.cid import compute_cid
from node.store.pushed import PUSH_GRACE_S, pushed_or_fetched
from node.update.codec import UpdateHeader
from node.update.fixedpoint import FixedParams
from node.verify.checks import Expectation, verify_update
from node.waits import commit_closed

log = logging.getLogger(__name__)

LOG_LAG_TRIES = 20  # re-reads of a round's commitment logs that lag its closing read
LOG_LAG_PAUSE_S = 0.05


@dataclass
class Verified:
    author: str
    cid: str
    header: UpdateHeader
    delta: FixedParams


PROVIDER_JITTER_S = 1.0  # a verifier waits up to this long before announcing it holds a CID


def announcers_enough(f: int) -> int:
    """Signed announcers of a CID (its author among them) after which a node that verified
    it stays quiet: ``f + max(f, 1)`` non-authors, so at least ``max(f, 1)`` of them are
    honest whatever f Byzantine announcers do, which is what the announcer rule of
    node/abstain.py counts on, plus the author."""
    return f + max(f, 1) + 1


async def announce_provider(ctx: NodeContext, r: int, author: str, cid: str) -> None:
    """Announce that this node verified (and serves) ``author``'s ``cid``, unless enough
    others already did. Every member announcing every update it verified sent K^2
    announcements a round, each relayed to every node: at K = 8 and 32 nodes, most of an
    idle node's CPU. After a random wait (so verifiers don't all speak at once) a node
    announces only while the CID has fewer than ``announcers_enough`` signed announcers."""
    await trio.sleep(random.uniform(0, PROVIDER_JITTER_S))
    if len(ctx.announcers.get(cid, ())) >= announcers_enough(ctx.rule.f):
        ctx.metrics.inc("announcements_skipped_total")
        return
    await announce(ctx, r, author, cid)


async def fetch_blob_until(ctx: NodeContext, cid: str, author: str, deadline: float) -> bytes:
    """Fetch ``cid`` from its author and announced providers until ``deadline``.

    The first attempt asks the author at the registry entry read when the committee was
    drawn (``node/committee_links.py``; connected by then, or being dialled), if there is
    one; each later attempt first re-dials the author at the addresses the registry holds
    now, so an author that restarted on a new address, or came back late, is still reached.
    """
    attempts = 0

    async def providers() -> list[str]:
        nonlocal attempts
        attempts += 1
        known = ctx.committee_peers.get(author) if attempts == 1 else None
        author_peer = await refresh_author(ctx, author, known)
        others = sorted(ctx.providers.get(cid, set()) - {author_peer})
        # the author first; the exchange races several of them and Bitswap at once
        return [author_peer, *others] if author_peer else others

    return await fetch_with_retries(
        ctx.net, cid, providers, deadline, ctx.cfg.fetch_timeout, ctx.metrics
    )


async def refresh_author(
    ctx: NodeContext, author: str, known: Participant | None = None
) -> str | None:
    """``author``'s peer id, connected if it can be: from ``known`` (a registry entry read
    this round) or else read from the registry now."""
    peer = known or await ctx.chain_port.participant(author)
    if peer is None:
        return None
    if peer.peer_id not in ctx.net.connected_peers() and peer.addrs:
        if not ctx.net.dialling(peer.peer_id):  # else connect() waits for that dial
            ctx.metrics.inc("fetch_dials_total")  # none when committee_links got there first
        await ctx.net.connect(peer.peer_id, list(peer.addrs))
    return peer.peer_id


async def fetch_and_verify(
    ctx: NodeContext, expect: Expectation, cid: str, deadline: float
) -> Verified:
    blob = await ctx.net.get_local_blob(cid)
    if blob is None and slow_link(expect.author, expect.round):
        await stalled_until(deadline)  # test fault: a link too slow to bring this blob
    pushed = False
    if blob is None:  # the author's push if it came (or comes first), else a fetch
        fetch = partial(fetch_blob_until, ctx, cid, expect.author, deadline)
        grace = PUSH_GRACE_S if ctx.pushed.expect_pushes else 0.0
        blob, pushed = await pushed_or_fetched(
            ctx.pushed, expect.round, cid, fetch, ctx.metrics, grace
        )
    if compute_cid(blob) != cid:
        raise UpdateRejected("cid_mismatch", f"blob does not hash to committed {cid}")
    header, delta = verify_update(blob, expect)
    if pushed:  # served from here on, like a fetched blob
        ctx.metrics.inc("bytes_pushed_total", len(blob))  # beside bytes_fetched_total
        await ctx.blobs.put(blob, pin=False)
    return Verified(expect.author, cid, header, delta)


async def exchange_deadline(
    ctx: NodeContext, r: int, view: tuple[RoundInfo, int, float] | None = None
) -> float:
    """Trio-clock time until which missing blobs are retried: half the vote window.

    Every honest node waits the same chain-time span, so a blob any of them can get by
    then (from its author or from another node that fetched it) is included by all.
    ``view``: the read that showed the commit window closed (round, chain time, trio
    time of the read), else read now.
    """
    if view is None:
        info, now = await ctx.chain_port.round_view(r)  # one batched read
        view = info, now, trio.current_time()
    info, now, read_at = view
    chain_end = info.vote_opens_at + (info.vote_deadline - info.vote_opens_at) / 2
    return read_at + max(ctx.cfg.fetch_timeout, chain_end - now)


@dataclass
class Fetch:
    """One committed update being fetched: its deadline moves in once the exchange
    deadline is known; ``outcome`` is set before ``done``."""

    scope: trio.CancelScope
    done: trio.Event = field(default_factory=trio.Event)
    outcome: Verified | UpdateRejected = field(
        default_factory=lambda: UpdateRejected("unavailable", "no blob by the exchange deadline")
    )


class Exchange:
    """Round ``r``'s updates, fetched and verified as their commitments land.

    ``landed`` sees every read of the round while the commit window is open and starts a
    fetch for each new commitment at once (the commitments are read again only when the
    round's commit count moved). ``finish``, once the window closed, reads the commitments
    (as the exchange always did), fixes the exchange deadline, starts what is left and
    waits for all: an update counts as verified iff its blob verified by that deadline,
    so the verified set is the same function of the same inputs as when every fetch
    started after the window (only sooner). Runs its fetches in ``nursery``.
    """

    def __init__(
        self,
        ctx: NodeContext,
        r: int,
        base_cid: str,
        shapes: dict[str, tuple[int, ...]],
        nursery: trio.Nursery,
    ) -> None:
        self.ctx, self.r, self.nursery = ctx, r, nursery
        self.base_cid, self.shapes = base_cid, shapes
        self.fetches: dict[tuple[str, str], Fetch] = {}  # (author, cid) -> its fetch
        self.deadline = math.inf  # trio clock; known once the commit window closed
        self._commit_count = 0  # commitments seen so far
        self._closing: tuple[RoundInfo, int, float] | None = None  # the read showing it closed

    def window_closed(self, info: RoundInfo, now: int) -> bool:
        """``commit_closed``, keeping the read that first shows it (the exchange deadline
        is computed from it: no read more)."""
        closed = commit_closed(info, now)
        if closed and self._closing is None:
            self._closing = (info, now, trio.current_time())
        return closed

    async def landed(self, info: RoundInfo) -> None:
        if info.commit_count == self._commit_count or info.closed_at > 0:
            return  # nothing new, or closed: ``finish`` reads the commitments right after
        commitments = await self.ctx.chain_port.commitments(self.r)
        self._commit_count = len(commitments)
        self.start(commitments)

    async def finish(self) -> tuple[list[Verified], dict[str, str]]:
        """Fetch and verify every committed update; returns (verified, rejected author ->
        reason)."""
        ctx = self.ctx
        commitments = await self._closing_commitments()
        self.deadline = await exchange_deadline(ctx, self.r, self._closing)
        final = set(commitments.items())
        for key, fetch in self.fetches.items():
            if key in final:
                fetch.scope.deadline = self.deadline
            else:  # a commitment the chain lost (restarted from an older state)
                fetch.scope.cancel()
        self.start(commitments)
        verified: list[Verified] = []
        rejected: dict[str, str] = {}
        for author, cid in sorted(final):
            fetch = self.fetches[author, cid]
            await fetch.done.wait()
            if isinstance(fetch.outcome, Verified):
                verified.append(fetch.outcome)
            else:
                rejected[author] = fetch.outcome.reason
        ctx.pushed.discard_through(self.r)
        return sorted(verified, key=lambda v: v.author.lower()), rejected

    async def _closing_commitments(self) -> dict[str, str]:
        """The round's commitments, read again while their logs hold fewer than the read
        that showed the window closed counted. Anvil has answered a log read from before
        its latest block's logs were in (a node then verified 2 of 3 updates and voted
        alone). Bounded: a chain restarted from an older state may really have lost one."""
        expected = self._closing[0].commit_count if self._closing is not None else 0
        commitments = await self.ctx.chain_port.commitments(self.r)
        for _ in range(LOG_LAG_TRIES):
            if len(commitments) >= expected:
                return commitments
            self.ctx.metrics.inc("exchange_commitment_logs_behind_total")
            await trio.sleep(LOG_LAG_PAUSE_S)
            commitments = await self.ctx.chain_port.commitments(self.r)
        if len(commitments) < expected:
            log.warning(
                "round %d: %d commitments in the logs, the closing read counted %d",
                self.r,
                len(commitments),
                expected,
            )
        return commitments

    def start(self, commitments: Mapping[str, str]) -> None:
        for author, cid in sorted(commitments.items()):
            if (author, cid) not in self.fetches:
                fetch = Fetch(trio.CancelScope(deadline=self.deadline))
                self.fetches[author, cid] = fetch
                self.nursery.start_soon(self._run, author, cid, fetch)

    async def _run(self, author: str, cid: str, fetch: Fetch) -> None:
        ctx, r = self.ctx, self.r
        if author == ctx.address:
            await push_or_announce(ctx, r, cid)
        expect = Expectation(
            deployment=ctx.deployment_id,
            round=r,
            author=author,
            base_cid=self.base_cid,
            shapes=self.shapes,
            max_examples=ctx.cfg.max_examples,
            norm_bound=update_norm_bound(
                ctx.chain.deployment.training, self.shapes, ctx.cfg.norm_bound
            ),
            codec=ctx.chain.deployment.training.update_codec,
        )
        with fetch.scope:  # cancelled at the exchange deadline: the default outcome
            try:
                fetch.outcome = await fetch_and_verify(ctx, expect, cid, self.deadline)
            except UpdateRejected as exc:
                fetch.outcome = exc
        if isinstance(fetch.outcome, Verified):
            ctx.metrics.inc("updates_accepted_total")
            if author != ctx.address:  # beside the network: the round need not wait for it
                ctx.net.start_soon(in_background, announce_provider, ctx, r, author, cid)
        else:
            ctx.metrics.inc("updates_rejected_total", reason=fetch.outcome.reason)
            log.warning("round %d: update of %s rejected: %s", r, author, fetch.outcome)
        fetch.done.set()


async def know_eligible(ctx: NodeContext, info: RoundInfo) -> None:
    """Re-read the registry if it holds fewer active peers than the round's eligible count.

    The gossip policy drops announcements from peers missing in ``ctx.registered_peers``,
    and discovery re-reads the registry only when its size changes or every 30 s: a peer
    that registered and then staked could stay missing that long, and its announcements
    (which the abstain rule counts) be dropped in the round that its stake opened.
    """
    if len(ctx.registered_peers) >= info.eligible_count:
        return
    participants = await ctx.chain_port.participants()
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
    commitments = await ctx.chain_port.commitments(r)
    missing = {a: commitments[a] for a in lacking if a in commitments}
    peers = {a: await ctx.chain_port.participant(a) for a in missing}
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
