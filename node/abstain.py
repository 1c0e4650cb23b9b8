"""When a node that lacks an update must not vote (issue 13, item 4).

Every honest node retries a missing update from its author and every announced provider
until the shared exchange deadline. One that still lacks it there would aggregate a
different set than the nodes that got it and vote a model the quorum does not. The first
rule, the announcer rule:

    For each committed update this node lacks, count the distinct registered peers other
    than its author that signed a gossip announcement of its CID (a node announces an
    update after verifying it). If, for any of them, that count is at least max(f, 1),
    the node abstains this round; otherwise the update counts as unavailable and the
    node votes without it.

Why max(f, 1): with at most f Byzantine participants, a Byzantine author leaves at most
f - 1 Byzantine non-authors, so f non-author announcers include an honest node that
verified the update and serves it: the honest majority holds it and votes with it. Fewer
announcers may all be Byzantine (a withholding author's colluders): the update is then
not known to be held by any honest node, so it counts as unavailable, as for every other
honest node that lacks it. With f = 0 one announcer suffices. Abstaining never splits the
vote; it only costs this node its vote (and its voter reward) in this round. A verifier
stays quiet once a CID has f + max(f, 1) non-author announcers (node/exchange.py,
``announcers_enough``): at least max(f, 1) of those are honest, so the rule sees as many as
it needs, and a round costs O(K) announcements instead of K^2.

Only signed senders count, never the provider lists inside announcements (a Byzantine
peer could list honest peer ids there and make every honest node abstain), and only
peers in the registry: a peer id is one key, so Byzantine accounts control at most as
many distinct registered peer ids as there are of them.

A node lacking an update may still hear of no announcer (gossip late or lost under load):
the second rule, the deferred vote (node/deferral.py), covers it. A node that lacks at
least one committed update ("unavailable") and did not abstain above does not vote at
once: it waits until the defer point, 3/4 of the way through the vote window (the
exchange deadline is at 1/2; nodes holding every update vote at once), then reads the
round's votes from the chain and

    abstains if the round finalized with another outcome than its own, or if another
    outcome holds at least 1/3 of the round's stake snapshot; else votes its own.

Why 1/3: Byzantine stake is below 1/3, so an outcome with at least 1/3 behind it has an
honest voter, who computed that model because it held updates this node lacks; voting
ours would split the honest vote. Byzantine votes for garbage stay below 1/3 and cannot
make honest nodes abstain. When every honest node lacks the same update (e.g. its author
withholds it), all of them defer, none sees another outcome backed, and they all vote the
same model: the round finalizes after the defer point instead of at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

REASON = "missing_verified_update"
OUTVOTED = "outvoted_while_lacking"  # deferred; the round finalized with another outcome
OTHER_BACKED = "other_outcome_backed_while_lacking"  # deferred; >= 1/3 on another outcome
DEFER_AT = 3 / 4  # of the vote window: when a node lacking an update decides


def verified_elsewhere(
    missing: Mapping[str, str],
    announcers: Mapping[str, Set[str]],
    author_peers: Mapping[str, str | None],
    registered: Set[str],
    f: int,
) -> dict[str, int]:
    """The missing updates some honest node verified: author -> how many registered
    non-author peers announced it, for those announced by at least ``max(f, 1)``.

    ``missing``: author -> committed CID this node lacks at the exchange deadline;
    ``announcers``: CID -> peer ids that signed an announcement of it; ``author_peers``:
    author -> its registered peer id (None if none); ``registered``: peer ids of the
    registered participants; ``f``: the deployment rule's f. Non-empty: abstain.
    """
    need = max(f, 1)
    held: dict[str, int] = {}
    for author, cid in sorted(missing.items()):
        others = set(announcers.get(cid, ())) & set(registered)
        others.discard(author_peers.get(author) or "")
        if len(others) >= need:
            held[author] = len(others)
    return held


def defer_point(vote_opens_at: int, vote_deadline: int) -> float:
    """Chain time at which a node lacking an update decides whether to vote."""
    return vote_opens_at + DEFER_AT * (vote_deadline - vote_opens_at)


def deferred_decision(
    ours: bytes, weights: Mapping[bytes, int], snapshot: int, finalized: bytes | None
) -> str | None:
    """The deferred vote at the defer point: None to vote ``ours``, else why to abstain.

    ``ours``: the key (first 16 bytes of the outcome id) of the outcome this node computed;
    ``weights``: outcome key -> stake voted for it so far; ``snapshot``: the round's stake
    snapshot (the quorum's base); ``finalized``: the finalized outcome's key, None while
    the round is not finalized.
    """
    if finalized is not None:
        return None if finalized == ours else OUTVOTED
    for key, weight in sorted(weights.items()):
        if key != ours and weight > 0 and 3 * weight >= snapshot:  # >= ceil(snapshot / 3)
            return OTHER_BACKED
    return None
