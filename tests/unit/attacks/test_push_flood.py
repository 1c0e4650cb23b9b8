"""The hostile pushes of bench/hostile.py --mode push-flood are refused for the reason each
kind is named after (node/p2p/messages.py's checks, the topic's size limit and round
window, node/store/pushed.py's per-signer gate)."""

from __future__ import annotations

import random

import pytest

from node.attacks.push_flood import KINDS, craft, stale_round
from node.p2p.messages import MAX_PUSH_MESSAGE, MessageRejected, Push, decode
from node.store.pushed import PushedBlobs

OWN = "0x" + "ab" * 20
VICTIMS = ["0x" + "cd" * 20, "0x" + "ef" * 20]


def make(kind: str, r: int = 5) -> bytes:
    return craft(kind, r, OWN, VICTIMS, random.Random(kind))


def test_oversize_is_over_the_topics_limit() -> None:
    assert len(make("oversize")) > MAX_PUSH_MESSAGE


def test_wrong_hash_is_a_cid_mismatch() -> None:
    with pytest.raises(MessageRejected) as info:
        decode(make("wrong_hash"))
    assert info.value.reason == "cid_mismatch"


def test_not_author_names_an_honest_author() -> None:
    msg = decode(make("not_author"))
    assert isinstance(msg, Push) and msg.author in VICTIMS and msg.round == 5


@pytest.mark.parametrize("r", [1, 2, 3, 9])
def test_stale_round_is_outside_the_window(r: int) -> None:
    msg = decode(craft("stale_round", r, OWN, VICTIMS, random.Random(0)))
    assert msg.round == stale_round(r) and not r - 1 <= msg.round <= r + 1 and msg.round >= 1


def test_over_limit_pushes_are_distinct_and_the_third_is_gated() -> None:
    rng = random.Random(1)
    sent = [craft("over_limit", 4, OWN, VICTIMS, rng) for _ in range(3)]
    assert len(set(sent)) == 3  # not dropped as duplicates
    assert all(decode(d).author == OWN for d in sent)
    gate = PushedBlobs()
    assert [gate.gate("hostile", 4) for _ in sent] == [None, None, "push_limit"]


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown push-flood kind"):
        make("flood")
    with pytest.raises(ValueError, match="honest author"):
        craft("not_author", 2, OWN, [], random.Random(0))
    assert set(KINDS) == {"oversize", "wrong_hash", "not_author", "stale_round", "over_limit"}
