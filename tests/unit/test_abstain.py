"""The abstain rule (node/abstain.py) on its own: which missing updates some honest node
must have verified, given who signed announcements of them."""

from __future__ import annotations

import pytest

from node.abstain import verified_elsewhere

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
