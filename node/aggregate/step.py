"""One round step over arrays: verified updates -> aggregate -> scores -> apply.

Pure (no network, no chain, no clock): the node's round, the demo's simulated baseline and
the robustness benchmark all run this, so they agree on every edge, in particular on too
few inputs for the rule (``PreconditionError``): every honest node sees the same verified
set, so all keep the base model and pay no contribution rewards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from node.aggregate import fednova
from node.aggregate.fedavg import apply_delta, capped_weights
from node.aggregate.registry import PreconditionError, Rule
from node.errors import UpdateRejected
from node.update.fixedpoint import FixedParams
from node.verify.checks import check_norm

Reference = Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]] | None


@dataclass(frozen=True)
class Contribution:
    """One verified update as the step sees it (canonical order is the caller's)."""

    author: str
    delta: FixedParams
    examples: int  # the example count its header claims (capped by the step)
    local_steps: int = 0  # FedNova's tau_i (0 for other algorithms)


@dataclass(frozen=True)
class StepResult:
    model: FixedParams  # the new model (the base when the step was skipped)
    delta: FixedParams | None  # the aggregate delta; None when skipped
    rewards: dict[str, int]  # per-author reward weights (node/aggregate/rewards.py splits)
    scores: tuple[int, ...]  # the rule's contribution score per input, in input order
    f: int  # the f the rule ran with (lowered by the invalid updates)
    skipped: str | None = None  # why the base model was kept (too few inputs)


def round_step(
    rule: Rule,
    base: FixedParams,
    inputs: Sequence[Contribution],
    *,
    cap: int,
    invalid: int = 0,
    algorithm: str = "fedavg",
    reference: Reference = None,
) -> StepResult:
    """The new model and the contribution rewards of one round.

    ``invalid`` updates were rejected as invalid: known Byzantine, so the rule runs with f
    lowered by that many (``Rule.after_invalid``). ``cap``: the largest example count an
    update's weight counts. ``algorithm`` ``fednova``: the rule runs on the updates
    rescaled by their authors' local step counts (node/aggregate/fednova.py).
    ``reference``: what was public before the round; scores credit only what an update
    adds beyond it (the node passes None: see docs/decisions.md).
    """
    rule = rule.after_invalid(invalid)
    if not inputs:
        return StepResult(base, None, {}, (), rule.f, skipped="no verified updates")
    weights = capped_weights([c.examples for c in inputs], cap)
    deltas: list[FixedParams] = [c.delta for c in inputs]
    if algorithm == "fednova":
        deltas = fednova.normalise(deltas, [c.local_steps for c in inputs], weights)
    try:
        result = rule(deltas, weights, reference)
    except PreconditionError as exc:
        return StepResult(base, None, {}, (), rule.f, skipped=str(exc))
    authors = [c.author for c in inputs]
    rewards = reward_weights(authors, result.scores, weights, result.duplicates)
    model = apply_delta(base, result.delta)
    return StepResult(model, result.delta, rewards, tuple(result.scores), rule.f)


def reward_weights(
    authors: list[str],
    scores: Sequence[int],
    examples: list[int],
    duplicates: Sequence[int] = (),
) -> dict[str, int]:
    """Contribution scores decide the split; when no update scores above the margin (late,
    converged rounds where every cosine is small) capped example counts do, so honest
    contributors are still paid. Near-duplicates (``duplicates``: positions) are paid in
    neither case. See docs/decisions.md."""
    if any(scores):
        return dict(zip(authors, (int(s) for s in scores), strict=True))
    copied = set(duplicates)
    pairs = enumerate(zip(authors, examples, strict=True))
    return {author: 0 if i in copied else w for i, (author, w) in pairs}


def within_norm(
    candidates: Sequence[Contribution], norm_bound: float
) -> tuple[list[Contribution], int]:
    """The candidates that pass the verification norm bound, and how many did not: the
    checks a simulation without blobs can run (the node runs them all on the bytes)."""
    accepted: list[Contribution] = []
    for c in candidates:
        try:
            check_norm(c.delta, norm_bound)
        except UpdateRejected:
            continue
        accepted.append(c)
    return accepted, len(candidates) - len(accepted)
