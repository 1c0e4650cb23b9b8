"""When a node that lacks an update must not vote (issue 13, item 4).

Every honest node retries a missing update from its author and every announced provider
until the shared exchange deadline. One that still lacks it there would aggregate a
different set than the nodes that got it and vote a model the quorum does not. The rule:

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
vote; it only costs this node its vote (and its voter reward) in this round.

Only signed senders count, never the provider lists inside announcements (a Byzantine
peer could list honest peer ids there and make every honest node abstain), and only
peers in the registry: a peer id is one key, so Byzantine accounts control at most as
many distinct registered peer ids as there are of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

REASON = "missing_verified_update"


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
