"""Rules by name, composable as ``pre+pre+final`` (e.g. ``nnm+trimmed_mean``).

A thin shell over the pure matrix functions in ``rules.py``: parse and validate the spec
once (``build_rule``), then each call flattens the deltas in sorted-name order, runs the
pre-aggregation steps and the final rule, and cuts the result back into named tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from node.aggregate import rules
from node.aggregate.scores import scores_and_duplicates
from node.aggregate.vectors import AggregationError, flatten, flatten_one, unflatten
from node.errors import ConfigError
from node.update.fixedpoint import FixedParams

Matrix = np.ndarray
FinalFn = Callable[[Matrix, Sequence[int], int], tuple[np.ndarray, rules.Selected]]
StepFn = Callable[[Matrix, int], tuple[Matrix, rules.Influence]]


class PreconditionError(AggregationError):
    """Too few updates for the rule and f (e.g. Krum needs n >= 2f+3)."""


@dataclass(frozen=True)
class AggregateResult:
    delta: dict[str, np.ndarray]  # int32 fixed point
    selected: tuple[int, ...]  # indices of inputs that influenced the result
    scores: tuple[int, ...]  # contribution score per input (see scores.py)
    duplicates: tuple[int, ...] = ()  # inputs flagged as near-duplicates of another


@dataclass(frozen=True)
class _Final:
    fn: FinalFn
    min_n: Callable[[int], int]
    needs: str


@dataclass(frozen=True)
class _Step:
    fn: StepFn
    min_n: Callable[[int], int]
    needs: str


def _all(n: int) -> rules.Selected:
    return tuple(range(n))


FINAL: dict[str, _Final] = {
    "fedavg": _Final(lambda x, w, f: (rules.weighted_mean(x, w), _all(len(x))), lambda f: 1, "1"),
    "mean": _Final(lambda x, w, f: (rules.mean(x), _all(len(x))), lambda f: 1, "1"),
    "median": _Final(
        lambda x, w, f: (rules.coordinate_median(x), _all(len(x))), lambda f: 2 * f + 1, "2f+1"
    ),
    "trimmed_mean": _Final(
        lambda x, w, f: (rules.trimmed_mean(x, f), _all(len(x))), lambda f: 2 * f + 1, "2f+1"
    ),
    "krum": _Final(lambda x, w, f: rules.krum(x, f), lambda f: 2 * f + 3, "2f+3"),
    "multi_krum": _Final(lambda x, w, f: rules.multi_krum(x, f), lambda f: 2 * f + 3, "2f+3"),
    "geometric_median": _Final(
        lambda x, w, f: rules.geometric_median(x), lambda f: 2 * f + 1, "2f+1"
    ),
    "centered_clipping": _Final(
        lambda x, w, f: rules.centered_clipping(x, f), lambda f: 2 * f + 1, "2f+1"
    ),
    "bulyan": _Final(lambda x, w, f: rules.bulyan(x, f), lambda f: 4 * f + 3, "4f+3"),
}

STEPS: dict[str, _Step] = {
    "dedup": _Step(rules.dedup, lambda f: 1, "1"),
    "nnm": _Step(rules.nnm, lambda f: 2 * f + 1, "2f+1"),
    "clip": _Step(rules.norm_clip, lambda f: f + 1, "f+1"),
}

ALIASES = {
    "avg": "fedavg",
    "cwmed": "median",
    "trmean": "trimmed_mean",
    "multikrum": "multi_krum",
    "geomed": "geometric_median",
    "rfa": "geometric_median",
    "cclip": "centered_clipping",
    "cc": "centered_clipping",
    "norm_clip": "clip",
}


def rule_names() -> list[str]:
    """Canonical names: final rules, then pre-aggregation steps (usable as ``step+rule``)."""
    return sorted(FINAL) + sorted(STEPS)


def _canonical(part: str) -> str:
    name = part.strip().lower().replace("-", "_")
    return ALIASES.get(name, name)


@dataclass(frozen=True)
class Rule:
    """A validated rule spec; call it on deltas in canonical (author) order."""

    spec: str
    f: int
    steps: tuple[str, ...]
    final: str

    @property
    def min_inputs(self) -> int:
        needs = [FINAL[self.final].min_n(self.f)] + [STEPS[s].min_n(self.f) for s in self.steps]
        return max(needs)

    def with_f(self, f: int) -> Rule:
        """The same spec for ``f`` Byzantine inputs."""
        if not isinstance(f, int) or isinstance(f, bool) or f < 0:
            raise ConfigError(f"aggregation f must be an integer >= 0, got {f!r}")
        return replace(self, f=f)

    def after_invalid(self, invalid: int) -> Rule:
        """The rule for a round in which ``invalid`` committed updates were rejected as
        invalid: their authors are known Byzantine and already excluded, so at most
        f - invalid of the remaining inputs can be Byzantine (f never goes below 0).
        Withheld (unavailable) updates are not counted: see docs/aggregation.md."""
        if invalid < 0:
            raise ValueError(f"invalid update count must be >= 0, got {invalid}")
        return self.with_f(max(self.f - invalid, 0))

    def check(self, n: int) -> None:
        for name in (*self.steps, self.final):
            part: _Final | _Step = STEPS[name] if name in STEPS else FINAL[name]
            if n < part.min_n(self.f):
                raise PreconditionError(
                    f"rule {name!r} needs n >= {part.needs} = {part.min_n(self.f)} updates "
                    f"for f = {self.f}; got n = {n}"
                )

    def aggregate_matrix(
        self, x: Matrix, weights: Sequence[int]
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        """The pure math: (n, d) int32 matrix -> (aggregate int64 (d,), selected inputs)."""
        n = x.shape[0]
        self.check(n)
        influence: list[frozenset[int]] = [frozenset((i,)) for i in range(n)]
        f = self.f
        for name in self.steps:
            f = _fitted_f(STEPS[name].min_n, f, x.shape[0])
            rows = x.shape[0]
            x, step_influence = STEPS[name].fn(x, f)
            influence = [frozenset().union(*(influence[j] for j in s)) for s in step_influence]
            if x.shape[0] != rows:  # dedup merged copies: a group keeps its first's weight
                weights = [weights[min(s)] for s in step_influence]
        f = _fitted_f(FINAL[self.final].min_n, f, x.shape[0])
        vector, chosen = FINAL[self.final].fn(x, weights, f)
        selected = sorted(frozenset().union(*(influence[i] for i in chosen)))
        return vector, tuple(selected)

    def __call__(
        self,
        deltas: Sequence[Mapping[str, np.ndarray]],
        weights: Sequence[int],
        reference: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]] | None = None,
    ) -> AggregateResult:
        """Aggregate ``deltas`` (canonical order).

        ``reference``: what was public before this round (the previous global delta, or a
        list of such deltas, e.g. plus the previous round's updates); contribution scores
        only credit what an update adds beyond it (see scores.py).
        """
        if len(weights) != len(deltas) or any(int(w) <= 0 for w in weights):
            raise AggregationError("one positive weight per update is required")
        x, layout = flatten(deltas)
        vector, selected = self.aggregate_matrix(x, [int(w) for w in weights])
        ref = None
        if reference is not None:
            refs = [reference] if isinstance(reference, Mapping) else list(reference)
            if refs:
                ref = np.stack([flatten_one(r, layout) for r in refs])
        scores, dups = scores_and_duplicates(x, ref, self.f, vector)
        out: FixedParams = unflatten(vector, layout)
        return AggregateResult(out, selected, scores, dups)


def _fitted_f(min_n: Callable[[int], int], f: int, n: int) -> int:
    """f, lowered until the part accepts n inputs (after dedup merged copies: n was
    checked before, and merged copies stand for at most one input each)."""
    while f > 0 and min_n(f) > n:
        f -= 1
    return f


def build_rule(spec: str, f: int) -> Rule:
    """Parse ``spec`` (``[step+]...final``) for f Byzantine inputs; ConfigError if invalid."""
    if not isinstance(f, int) or isinstance(f, bool) or f < 0:
        raise ConfigError(f"aggregation f must be an integer >= 0, got {f!r}")
    parts = [_canonical(p) for p in str(spec).split("+")]
    known = ", ".join(rule_names())
    for p in parts:
        if p not in FINAL and p not in STEPS:
            raise ConfigError(f"unknown aggregation rule {p!r} in {spec!r}; known: {known}")
    *steps, final = parts
    if final not in FINAL:
        raise ConfigError(f"{spec!r} must end with a final rule ({', '.join(sorted(FINAL))})")
    for s in steps:
        if s not in STEPS:
            raise ConfigError(f"{s!r} in {spec!r} is a final rule; only its last part may be")
    return Rule("+".join(parts), f, tuple(steps), final)
