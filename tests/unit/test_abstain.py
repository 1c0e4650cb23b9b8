"""The abstain rules (node/abstain.py) on their own: which missing updates some honest node
must have verified, given who signed announcements of them; and the deferred vote of a
node lacking an update, given the votes on chain at the defer point."""

from __future__ import annotations

import pytest

from node.abstain import (
    OTHER_BACKED,
    OUTVOTED,
    defer_point,
    deferred_decision,
    verified_elsewhere,
)
from node.deferral import lacks_updates

AUTHOR, OTHER = "0xA", "0xB"
CID, CID2 = "bafyA", "bafyB"
PEERS = {AUTHOR: "pA", OTHER: "pB"}
REGISTERED = {"pA", "pB", "p1", "p2", "p3"}

CASES = [
    # (name, missing, announcers, f, expected)
    ("nothing missing", {}, {CID: {"p1"}}, 0, {}),
    ("f=0: one non-author announcer", {AUTHOR: CID}, {CID: {"p1"}}, 0, {AUTHOR: 1}),
    ("nobody announced it", {AUTHOR: CID}, {}, 0, {}),
    ("only its author announced it", {AUTHOR: CID}, {CID: {"pA"}}, 0, {}),
    ("author not counted toward f", {AUTHOR: CID}, {CID: {"pA", "p1"}}, 2, {}),
    ("f=2: two non-authors", {AUTHOR: CID}, {CID: {"pA", "p1", "p2"}}, 2, {AUTHOR: 2}),
    ("f=2: one may be a colluder", {AUTHOR: CID}, {CID: {"p1"}}, 2, {}),
    ("unregistered announcers ignored", {AUTHOR: CID}, {CID: {"pX", "pY"}}, 1, {}),
    ("registered ones among them count", {AUTHOR: CID}, {CID: {"pX", "p3"}}, 1, {AUTHOR: 1}),
    ("another CID's announcers do not count", {AUTHOR: CID}, {CID2: {"p1", "p2"}}, 1, {}),
    (
        "only the held one is reported",
        {AUTHOR: CID, OTHER: CID2},
        {CID: {"p1", "p2"}, CID2: {"pB"}},
        1,
        {AUTHOR: 2},
    ),
    ("author with no registry entry", {"0xC": CID}, {CID: {"p1"}}, 0, {"0xC": 1}),
]


@pytest.mark.parametrize(
    ("missing", "announcers", "f", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verified_elsewhere(
    missing: dict[str, str], announcers: dict[str, set[str]], f: int, expected: dict[str, int]
) -> None:
    assert verified_elsewhere(missing, announcers, PEERS, REGISTERED, f) == expected


OURS, THEIRS, JUNK = b"o" * 16, b"t" * 16, b"j" * 16
STAKE = 300  # the round's stake snapshot: 1/3 of it is 100

DEFERRED = [
    # (name, weights on chain, finalized key, expected)
    ("no votes yet: vote ours", {}, None, None),
    ("only ours voted", {OURS: 200}, None, None),
    ("finalized with ours: vote ours (late)", {OURS: 200}, OURS, None),
    ("finalized with another", {THEIRS: 200}, THEIRS, OUTVOTED),
    ("finalized with another, ours backed too", {THEIRS: 200, OURS: 100}, THEIRS, OUTVOTED),
    ("another outcome at exactly 1/3", {THEIRS: 100}, None, OTHER_BACKED),
    ("another just under 1/3 (Byzantine at most)", {THEIRS: 99}, None, None),
    ("under 1/3 each, even if more in total", {THEIRS: 99, JUNK: 99}, None, None),
    ("one of two others at 1/3", {THEIRS: 100, JUNK: 50}, None, OTHER_BACKED),
    ("others backed while ours leads", {OURS: 150, THEIRS: 120}, None, OTHER_BACKED),
]


@pytest.mark.parametrize(
    ("weights", "finalized", "expected"),
    [case[1:] for case in DEFERRED],
    ids=[case[0] for case in DEFERRED],
)
def test_deferred_decision(
    weights: dict[bytes, int], finalized: bytes | None, expected: str | None
) -> None:
    assert deferred_decision(OURS, weights, STAKE, finalized) == expected


def test_one_third_is_rounded_up() -> None:
    # 1/3 of 100 is 33.3: 33 may be Byzantine alone, 34 may not
    assert deferred_decision(OURS, {THEIRS: 33}, 100, None) is None
    assert deferred_decision(OURS, {THEIRS: 34}, 100, None) == OTHER_BACKED


def test_a_zero_weight_never_makes_it_abstain() -> None:
    assert deferred_decision(OURS, {THEIRS: 0}, 0, None) is None


def test_defer_point_is_three_quarters_of_the_vote_window() -> None:
    assert defer_point(1000, 1040) == 1030
    assert defer_point(1000, 1020) == 1015


@pytest.mark.parametrize(
    ("rejected", "expected"),
    [({}, False), ({"0xA": "unavailable"}, True), ({"0xA": "norm_bound"}, False)],
)
def test_only_an_unavailable_update_defers(rejected: dict[str, str], expected: bool) -> None:
    assert lacks_updates(rejected) is expected
