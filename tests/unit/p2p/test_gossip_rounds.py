"""Round-window verdicts of the gossip policy: stale rounds are dropped uncharged, rounds
beyond the window are charged."""

from __future__ import annotations

from node.p2p.gossip import PENALTIES, GossipPolicy, round_reason


def policy(current: int, *, known: bool = True, past: bool = True) -> GossipPolicy:
    return GossipPolicy(
        decode=lambda data: data,
        round_ok=lambda r: current - 1 <= r <= current + 1,
        round_known=lambda: known,
        round_past=(lambda r: r < current - 1) if past else None,
    )


def test_rounds_in_the_window_pass() -> None:
    for r in (4, 5, 6):
        assert round_reason(policy(5), r) is None


def test_a_past_round_is_dropped_uncharged() -> None:
    assert round_reason(policy(5), 3) == "round_past"
    assert round_reason(policy(5), 0) == "round_past"
    assert PENALTIES["round_past"] == 0.0


def test_a_future_round_is_charged() -> None:
    assert round_reason(policy(5), 7) == "round_out_of_window"
    assert round_reason(policy(5), 1000) == "round_out_of_window"
    assert PENALTIES["round_out_of_window"] > 0


def test_without_round_past_every_miss_is_charged_as_before() -> None:
    assert round_reason(policy(5, past=False), 3) == "round_out_of_window"


def test_an_unknown_current_round_charges_nothing() -> None:
    assert round_reason(policy(5, known=False), 3) == "round_unknown"
    assert round_reason(policy(5, known=False), 9) == "round_unknown"


def test_no_window_accepts_every_round() -> None:
    assert round_reason(GossipPolicy(decode=lambda data: data), 123) is None
