"""The round's aggregation step under FedNova: step counts from the verified headers."""

from __future__ import annotations

import random

import numpy as np
import pytest

from node.aggregate import build_rule, fednova
from node.aggregate.fedavg import apply_delta, capped_weights
from node.aggregate.step import round_step
from node.exchange import Verified
from node.round import contributions
from node.update.codec import UpdateHeader, decode_update, encode_model, encode_update
from node.verify.checks import Expectation, verify_update

DEPLOYMENT = "31337:0x0000000000000000000000000000000000000001"
SHAPES = {"a": (40,), "b": (3, 2)}
STEPS = [3, 7, 20, 0, 55]  # the fourth author gives none (counts as the median)
EXAMPLES = [90, 210, 600, 150, 1650]


def _blobs() -> list[bytes]:
    rng = np.random.default_rng(5)
    out = []
    for i, (tau, n) in enumerate(zip(STEPS, EXAMPLES, strict=True)):
        delta = {k: rng.integers(-3000, 3000, size=s, dtype=np.int32) for k, s in SHAPES.items()}
        header = UpdateHeader(DEPLOYMENT, 1, f"0x{i:040x}", "bafy-base", n, local_steps=tau)
        out.append(encode_update(header, delta))
    return out


def _node_view(blobs: list[bytes]) -> list[Verified]:
    """What one node verifies, in canonical (author) order whatever the arrival order."""
    updates = []
    for blob in blobs:
        author = decode_update(blob)[0].author
        expect = Expectation(DEPLOYMENT, 1, author, "bafy-base", SHAPES, 10_000, 20.0)
        header, delta = verify_update(blob, expect)
        updates.append(Verified(author, f"cid-{author}", header, delta))
    return sorted(updates, key=lambda u: u.author)


@pytest.mark.parametrize("spec,f", [("fedavg", 0), ("trimmed_mean", 1)])
def test_fednova_round_uses_the_header_steps_and_agrees_across_nodes(spec: str, f: int) -> None:
    base = {k: np.zeros(s, dtype=np.int32) for k, s in SHAPES.items()}
    rule = build_rule(spec, f)
    blobs = _blobs()
    shuffled = blobs[:]
    random.Random(1).shuffle(shuffled)
    one = round_step(
        rule, base, contributions(_node_view(blobs)), cap=10_000, algorithm="fednova"
    ).model
    two = round_step(
        rule, base, contributions(_node_view(shuffled)), cap=10_000, algorithm="fednova"
    ).model
    assert encode_model(one) == encode_model(two)
    updates = _node_view(blobs)
    weights = capped_weights(EXAMPLES, 10_000)
    expected = apply_delta(
        base, rule(fednova.normalise([u.delta for u in updates], STEPS, weights), weights).delta
    )
    assert encode_model(one) == encode_model(expected)
    plain = round_step(rule, base, contributions(updates), cap=10_000).model
    assert encode_model(plain) != encode_model(one)  # FedAvg ignores the step counts
