"""Every rule keeps learning when f invalid updates were rejected (issue 12).

One round of the real step on the digits task: honest nodes train real deltas; the f
Byzantine ones send updates that verification rejects (over the norm bound, trained on
another base). With n honest below the rule's precondition for f, a node that did not
lower f by the known Byzantine count would keep the base model; lowering it, the honest
aggregate moves the model and accuracy rises. Two nodes that receive the blobs in
different orders and decode them afresh produce the same model bytes.
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest
from eth_utils import keccak, to_checksum_address

from node.aggregate.registry import FINAL, build_rule
from node.aggregate.step import round_step
from node.errors import UpdateRejected
from node.exchange import Verified
from node.learning.local import accuracy_of, compute_delta, genesis_params, shapes_of
from node.learning.partition import SPLIT_SEED, iid_partition, train_test_split
from node.learning.tasks import Dataset, Task, get_task
from node.round import contributions
from node.update.codec import UpdateHeader, decode_update, encode_model, encode_update
from node.update.fixedpoint import FixedParams
from node.verify.checks import Expectation, verify_update
from node.vote import offenders

F = 2
MAX_HONEST = 10  # bulyan at f = 2 needs 11
DEPLOYMENT = "31337:0x0000000000000000000000000000000000000001"
BASE_CID = "bafy-base"
NORM_BOUND = 20.0
MAX_EXAMPLES = 10_000
SPECS = [*sorted(FINAL), "nnm+trimmed_mean", "dedup+geometric_median"]


def author(i: int) -> str:
    return to_checksum_address(keccak(b"node %d" % i)[:20])


@cache
def setup() -> tuple[Task, FixedParams, Dataset, list[tuple[UpdateHeader, FixedParams]]]:
    """Task, base model, test set and honest updates (real local training, 3 epochs)."""
    task = get_task("digits-mlp")
    train, test = train_test_split(task.load_all(), SPLIT_SEED)
    base = genesis_params(task)
    honest = []
    for i in range(MAX_HONEST):
        data = iid_partition(train, i, MAX_HONEST, seed=1)
        delta = compute_delta(task, base, data, epochs=3, lr=0.2, batch_size=16, seed=i)
        honest.append((UpdateHeader(DEPLOYMENT, 1, author(i), BASE_CID, len(data)), delta))
    return task, base, test, honest


def byzantine_blobs(honest: list[tuple[UpdateHeader, FixedParams]]) -> list[bytes]:
    """F updates every node rejects: a boosted honest delta, one trained on another base."""
    _, delta = honest[0]
    boosted = {k: (v.astype(np.int64) * 30).clip(-(2**24), 2**24).astype(np.int32)
               for k, v in delta.items()}  # fmt: skip
    return [
        encode_update(UpdateHeader(DEPLOYMENT, 1, author(100), BASE_CID, 500), boosted),
        encode_update(UpdateHeader(DEPLOYMENT, 1, author(101), "bafy-other", 500), delta),
    ]


def node_step(
    spec: str,
    base: FixedParams,
    blobs: list[bytes],
    withheld: tuple[str, ...] = (),
    lower: bool = True,
) -> tuple[FixedParams, dict[str, int], dict[str, str]]:
    """What round.exchange then the round step do with the blobs a node received
    (``withheld``: authors who committed but served nothing)."""
    shapes = shapes_of(base)
    verified: list[Verified] = []
    rejected = dict.fromkeys(withheld, "unavailable")
    for blob in blobs:
        claimed = decode_update(blob)[0].author
        expect = Expectation(DEPLOYMENT, 1, claimed, BASE_CID, shapes, MAX_EXAMPLES, NORM_BOUND)
        try:
            header, delta = verify_update(blob, expect)
        except UpdateRejected as exc:
            rejected[claimed] = exc.reason
            continue
        verified.append(Verified(header.author, "cid", header, delta))
    verified.sort(key=lambda v: v.author.lower())
    invalid = len(offenders(rejected)) if lower else 0
    rule = build_rule(spec, F)
    step = round_step(rule, base, contributions(verified), cap=MAX_EXAMPLES, invalid=invalid)
    return step.model, step.rewards, rejected


def honest_count(spec: str) -> int:
    """Just below the precondition for f (at least one honest update)."""
    return min(max(build_rule(spec, F).min_inputs - 1, 1), MAX_HONEST)


@pytest.mark.parametrize("spec", SPECS)
def test_rule_keeps_learning_with_f_invalid_updates_excluded(spec: str) -> None:
    task, base, test, honest = setup()
    n = honest_count(spec)
    rule = build_rule(spec, F)
    blobs = [encode_update(h, d) for h, d in honest[:n]] + byzantine_blobs(honest)

    new, scores, rejected = node_step(spec, base, blobs)
    assert rejected == {author(100): "norm_bound", author(101): "wrong_base"}
    before, after = accuracy_of(task, base, test), accuracy_of(task, new, test)
    assert after > before + 0.4, (spec, before, after)  # about 0.08 -> 0.82-0.93
    assert set(scores) == {h.author for h, _ in honest[:n]}

    if rule.min_inputs > n:  # not fedavg or mean: their precondition ignores f
        kept, no_scores, _ = node_step(spec, base, blobs, lower=False)
        assert kept is base and no_scores == {}
        # withheld updates prove nothing: they lower nothing, the node keeps the base
        kept, no_scores, _ = node_step(spec, base, blobs[:n], (author(100), author(101)))
        assert kept is base and no_scores == {}

    # another node: blobs in another arrival order, decoded afresh
    shuffled = [bytes(b) for b in blobs]
    random.Random(spec).shuffle(shuffled)
    again, again_scores, _ = node_step(spec, base, shuffled)
    assert encode_model(again) == encode_model(new)
    assert again_scores == scores
