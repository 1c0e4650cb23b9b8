"""The keep/trim choice (node/p2p/connection_budget.py): which connections a node closes."""

from __future__ import annotations

from functools import partial

from node.p2p.connection_budget import (
    IN_FLIGHT_MAX_S,
    ConnectionBudget,
    choose_prunes,
    default_cap,
    overlay_of_others,
)
from node.p2p.overlay import pair_score, ranked_peers

ME = "me"


def choose(connected: set[str], protected: set[str], **kw: object) -> dict[str, str]:
    args: dict[str, object] = dict(
        in_flight=set(),
        unprotected_since={p: 0.0 for p in connected},
        now=100.0,
        grace=10.0,
        cap=100,
        registered=set(connected),
        former=set(),
        order=partial(pair_score, ME),
    )
    args.update(kw)
    return choose_prunes(connected, protected, **args)  # type: ignore[arg-type]


def test_only_unprotected_peers_past_their_grace_and_idle_are_closed() -> None:
    connected = {"overlay", "member", "former", "busy", "fresh", "fetcher"}
    prunes = choose(
        connected,
        {"overlay", "member"},
        in_flight={"busy"},
        unprotected_since={"former": 80.0, "busy": 0.0, "fresh": 95.0, "fetcher": 89.0},
        former={"former", "busy"},
    )
    assert prunes == {"former": "committee_done", "fetcher": "not_kept"}


def test_over_the_cap_the_least_useful_unprotected_go_and_never_a_protected_one() -> None:
    spare = {f"p{i}" for i in range(6)}
    protected = {f"k{i}" for i in range(5)}
    connected = spare | protected | {"stranger"}
    # all within their grace: only the cap closes any
    prunes = choose(
        connected,
        protected,
        cap=8,
        unprotected_since=dict.fromkeys(connected, 99.0),
        registered=connected - {"stranger"},
        in_flight={"p0"},
    )
    assert set(prunes.values()) == {"over_cap"}
    assert len(connected) - len(prunes) == 8
    assert "stranger" in prunes  # unregistered first
    assert not prunes.keys() & (protected | {"p0"})
    worst = sorted(spare - {"p0"}, key=partial(pair_score, ME), reverse=True)
    assert prunes.keys() - {"stranger"} == set(worst[:3])  # then the worst-ranked pairs
    # protected peers alone above the cap: nothing to trim
    assert choose(protected, protected, cap=2) == {}


def test_committees_of_the_current_and_later_rounds_are_protected() -> None:
    budget = ConnectionBudget()
    ids = {"0xa": "A", "0xb": "B", "0xc": "C"}
    budget.drawn(3, ["0xA", "0xB"])
    budget.drawn(4, ["0xC"])
    assert budget.committee_peers(ids, since=4) == {"C"}
    assert budget.committee_peers(ids, since=3) == {"A", "B", "C"}
    assert budget.committee_peers(ids, since=0, before=4) == {"A", "B"}
    for r in range(5, 10):
        budget.drawn(r, [])
    assert 3 not in budget.committees and len(budget.committees) == 4


def test_grace_starts_when_a_peer_leaves_the_kept_set_and_resets_when_it_returns() -> None:
    budget = ConnectionBudget()
    budget.note({"a", "b"}, {"a"}, 1.0)
    budget.note({"a", "b"}, {"a"}, 5.0)
    assert budget.unprotected_since == {"b": 1.0}
    budget.note({"a", "b"}, {"a", "b"}, 6.0)  # drawn again / a transfer started
    budget.note({"a", "b"}, {"a"}, 7.0)
    assert budget.unprotected_since == {"b": 7.0}
    budget.note({"a"}, {"a"}, 8.0)  # disconnected: forgotten
    assert budget.unprotected_since == {}


def test_the_overlay_of_others_is_who_would_dial_us_again() -> None:
    peers = [f"peer{i}" for i in range(20)]
    others = overlay_of_others(ME, peers, 3, ranked_peers)
    for p in peers:
        assert (p in others) == (ME in ranked_peers(p, [*peers, ME])[:3])
    assert others  # some peer ranks us among its best 3 of 20
    assert default_cap(8, 8) == 30


def test_a_peer_closed_as_not_kept_that_dials_back_is_kept() -> None:
    budget = ConnectionBudget()
    budget.closed("insists", "not_kept", 0.0)
    budget.closed("drawn_again", "committee_done", 0.0)
    budget.welcome_back({"insists"}, 1.0)  # the close has not happened yet: not back
    assert budget.came_back == set()
    budget.welcome_back(set(), 3.0)  # gone
    budget.welcome_back({"insists", "drawn_again"}, 30.0)  # back
    assert budget.came_back == {"insists"}
    budget.welcome_back(set(), 40.0)  # disconnected: no longer kept for it
    assert budget.came_back == set()
    budget.closed("late", "over_cap", 50.0)
    budget.welcome_back(set(), 51.0)
    budget.welcome_back({"late"}, 50.0 + 121.0)  # back long after: not on purpose
    assert budget.came_back == set()


def test_a_transfer_stream_protects_only_while_recently_opened() -> None:
    budget = ConnectionBudget()
    assert budget.recent_transfers({"a", "b"}, 0.0) == {"a", "b"}
    assert budget.recent_transfers({"a", "b"}, IN_FLIGHT_MAX_S - 1) == {"a", "b"}
    # "b"'s stream closed, then a new one: protected afresh; "a"'s idle stream no longer
    assert budget.recent_transfers({"a"}, IN_FLIGHT_MAX_S - 0.5) == {"a"}
    assert budget.recent_transfers({"a", "b"}, IN_FLIGHT_MAX_S) == {"b"}
    assert budget.recent_transfers(set(), IN_FLIGHT_MAX_S + 1) == set()
    assert budget.in_flight_since == {}
