"""Contribution scores: exact, zero for free-riders and copies, invariant to what is public."""

import numpy as np
import pytest

from node.aggregate import build_rule, contribution_scores
from node.aggregate.rewards import split_pool
from node.aggregate.scores import SCORE_MARGIN, SCORE_ONE, project_out


def _honest(rng: np.random.Generator, n: int, d: int = 400) -> np.ndarray:
    signal = rng.normal(0, 1000, d)
    return np.rint(signal + rng.normal(0, 1000, (n, d))).astype(np.int32)


def _previous(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Last round's public global delta: correlated with this round's signal, not equal."""
    old = 0.8 * x.mean(0) + rng.normal(0, 600, x.shape[1])
    return np.rint(old).astype(np.int32)


@pytest.mark.parametrize("trim", [0, 1, 2])
def test_scores_match_a_float_reference_on_distinct_inputs(trim: int) -> None:
    rng = np.random.default_rng(0)
    x = _honest(rng, 7)
    got = contribution_scores(x, None, trim)
    for i, s in enumerate(got):
        others = np.delete(x, i, axis=0).astype(float)
        kept = np.sort(others, axis=0)[trim : others.shape[0] - trim]
        c = kept.sum(axis=0)  # the others' trimmed consensus (as a sum)
        cos = x[i] @ c / np.linalg.norm(x[i]) / np.linalg.norm(c)
        assert abs(s - max(0, int(np.floor(SCORE_ONE * cos)) - SCORE_MARGIN)) <= 1


def test_a_free_rider_where_the_consensus_lands_is_not_scored_against_itself() -> None:
    """The rule's output can sit on an input (the geometric median on a central one):
    scoring against n g - x_i then credits that input with (n-1) copies of itself."""
    rng = np.random.default_rng(3)
    x = _honest(rng, 8)
    prev = _previous(rng, x)
    stale = np.rint(prev + rng.normal(0, 60, x.shape[1])).astype(np.int32)
    rows = np.vstack([stale, x])
    scores = contribution_scores(rows, prev[None, :], 2)
    assert scores[0] == 0 and all(s > 0 for s in scores[1:])


def test_free_riders_and_attackers_score_zero() -> None:
    rng = np.random.default_rng(1)
    x = _honest(rng, 8)
    prev = _previous(rng, x)
    zero = np.zeros(x.shape[1], np.int32)
    flip = -x.mean(0).astype(np.int32)
    copy = (x[0] + rng.normal(0, 50, x.shape[1])).astype(np.int32)
    stale = prev.copy()
    rows = np.vstack([x, zero, flip, copy, stale])
    scores = contribution_scores(rows, prev[None, :])
    assert scores[8] == 0 and scores[9] == 0  # zero update, sign flip
    assert scores[10] == 0 and scores[0] == 0  # near-duplicate pair: nobody earns the copy
    assert scores[11] == 0  # stale: nothing beyond what was public
    assert all(s > 0 for s in scores[1:8])


def test_projection_is_exact_against_dependent_references() -> None:
    gram = [[4, 2, 2], [2, 1, 1], [2, 1, 3]]  # ref0 = 2 ref1 (dependent), target t
    # t' = t - proj: <t,t> - <t,r>^2/<r,r> = 3 - 4/4 = 2, scaled by det = 4
    assert project_out(gram, 2) == [[8]]


def test_rule_scores_feed_the_reward_split() -> None:
    rng = np.random.default_rng(2)
    x = _honest(rng, 9)
    deltas = [{"w": row} for row in x] + [{"w": np.zeros(x.shape[1], np.int32)}]
    result = build_rule("nnm+trimmed_mean", 1)(deltas, [1] * 10)
    authors = [f"0x{i:02x}" for i in range(10)]
    amounts = split_pool(10**6, dict(zip(authors, result.scores, strict=True)))
    assert "0x09" not in amounts  # the zero update earns nothing
    assert sum(amounts.values()) <= 10**6 and len(amounts) == 9


def test_with_the_rules_output_the_score_is_the_smaller_of_both_cosines() -> None:
    rng = np.random.default_rng(4)
    x = _honest(rng, 7)
    g = np.rint(np.median(x, axis=0)).astype(np.int64)
    both = contribution_scores(x, None, 1, g)
    alone = contribution_scores(x, None, 1)
    for i, s in enumerate(both):
        c = 7 * g - x[i]
        cos = x[i] @ c / np.linalg.norm(x[i]) / np.linalg.norm(c)
        expected = min(alone[i] + SCORE_MARGIN, int(np.floor(SCORE_ONE * cos)))
        assert abs(s - max(0, expected - SCORE_MARGIN)) <= 1
    assert any(b < a for a, b in zip(alone, both, strict=True))
