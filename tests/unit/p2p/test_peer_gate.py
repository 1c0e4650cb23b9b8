"""Who pays for a rejected message, and how long a graylisted peer stays cut off: a
signer pays for the pushes it delivered itself, a forwarder never for what its own view
of the chain made it relay; a graylisted peer is refused for a cooldown that doubles."""

from __future__ import annotations

from node.p2p.gossip import GRAYLIST_SCORE, PENALTIES, SIGNER_ONLY, PeerScores, penalty
from node.p2p.peer_gate import PeerCooldown

SIGNER, RELAY = "12D3KooWsigner", "12D3KooWrelay"


def test_a_signer_delivering_its_own_bad_push_is_charged() -> None:
    for reason in ("not_author", "push_limit", "round_out_of_window"):
        assert penalty(reason, SIGNER, SIGNER) == PENALTIES[reason] > 0


def test_a_forwarder_is_never_charged_for_what_its_view_of_the_chain_decides() -> None:
    for reason in SIGNER_ONLY:
        assert penalty(reason, RELAY, SIGNER) == 0.0


def test_content_and_transport_faults_cost_whoever_delivered_them() -> None:
    for reason in ("bad_signature", "oversize", "cid_mismatch", "garbage_rpc"):
        assert penalty(reason, RELAY, SIGNER) == PENALTIES[reason] > 0
    for reason in ("unregistered", "round_past", "duplicate", "round_unknown"):
        assert penalty(reason, SIGNER, SIGNER) == 0.0


def test_an_honest_author_restarting_mid_round_is_far_from_graylisted() -> None:
    # two pushes a round pass the gate; a restart or two more are charged push_limit
    scores = PeerScores(clock=lambda: 0.0)
    for _ in range(3):
        scores.penalize(SIGNER, "push_limit", penalty("push_limit", SIGNER, SIGNER))
    assert scores.get(SIGNER) > GRAYLIST_SCORE / 2


def test_a_flooding_signer_is_graylisted_within_a_dozen_pushes() -> None:
    scores = PeerScores(clock=lambda: 0.0)
    pushes = 0
    while scores.get(SIGNER) > GRAYLIST_SCORE:
        scores.penalize(SIGNER, "not_author", penalty("not_author", SIGNER, SIGNER))
        pushes += 1
    assert pushes <= 12


def test_a_graylisted_peer_is_refused_until_its_cooldown_ends_then_doubled() -> None:
    now = [0.0]
    gate = PeerCooldown(base_s=60.0, max_s=200.0, clock=lambda: now[0])
    assert not gate.refuses(SIGNER)
    assert gate.ban(SIGNER) == 60.0
    assert gate.refuses(SIGNER) and not gate.refuses(RELAY)
    now[0] = 59.9
    assert gate.refuses(SIGNER)
    now[0] = 60.0
    assert not gate.refuses(SIGNER)
    assert gate.ban(SIGNER) == 120.0  # a repeat offender waits longer
    assert gate.ban(SIGNER) == 200.0  # up to the maximum
    assert gate.remaining(SIGNER) == 200.0
