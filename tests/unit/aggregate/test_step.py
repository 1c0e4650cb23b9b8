"""The pure round step shared by the node, the demo's baseline and the robustness bench."""

from __future__ import annotations

import numpy as np

from node.aggregate import build_rule
from node.aggregate.fedavg import apply_delta, capped_weights
from node.aggregate.step import Contribution, round_step, within_norm
from node.update.fixedpoint import SCALE, FixedParams

BASE: FixedParams = {"w": np.zeros(6, dtype=np.int32)}


def _inputs(n: int, examples: int = 50) -> list[Contribution]:
    rng = np.random.default_rng(3)
    return [
        Contribution(f"0x{i:02x}", {"w": rng.integers(-500, 500, 6).astype(np.int32)}, examples + i)
        for i in range(n)
    ]


def test_the_step_is_the_rule_applied_with_capped_weights() -> None:
    inputs = _inputs(5)
    rule = build_rule("trimmed_mean", 1)
    step = round_step(rule, BASE, inputs, cap=52)
    weights = capped_weights([c.examples for c in inputs], 52)
    expected = rule([c.delta for c in inputs], weights)
    assert step.skipped is None and step.f == 1
    assert np.array_equal(step.model["w"], apply_delta(BASE, expected.delta)["w"])
    assert step.scores == expected.scores
    assert set(step.rewards) == {c.author for c in inputs}


def test_too_few_inputs_keep_the_base_and_pay_nobody() -> None:
    rule = build_rule("krum", 2)  # n >= 2f + 3 = 7
    step = round_step(rule, BASE, _inputs(5), cap=10_000)
    assert step.skipped is not None and "krum" in step.skipped
    assert step.model is BASE and step.delta is None and step.rewards == {} and step.f == 2
    empty = round_step(rule, BASE, [], cap=10_000)
    assert empty.model is BASE and empty.rewards == {} and empty.skipped


def test_invalid_updates_lower_f_until_the_rule_runs() -> None:
    rule = build_rule("krum", 2)
    lowered = round_step(rule, BASE, _inputs(5), cap=10_000, invalid=1)  # f = 1: n >= 5
    assert lowered.skipped is None and lowered.f == 1 and lowered.delta is not None


def test_fallback_rewards_are_example_counts_when_no_update_scores() -> None:
    same = [Contribution(a, {"w": np.zeros(6, dtype=np.int32)}, n) for a, n in (("a", 3), ("b", 9))]
    step = round_step(build_rule("fedavg", 0), BASE, same, cap=5)
    assert step.rewards == {"a": 3, "b": 5}


def test_within_norm_drops_and_counts_what_verification_rejects() -> None:
    big = Contribution("x", {"w": np.full(6, 30 * SCALE, dtype=np.int64)}, 1)
    ok = _inputs(2)
    accepted, invalid = within_norm([big, *ok], 20.0)
    assert accepted == ok and invalid == 1
