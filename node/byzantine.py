"""Byzantine node behaviour for simulations (`attack = "..."` in a node's config).

A Byzantine node sees only its own data (commit-reveal hides the others' updates until
it has committed), so model attacks that need honest statistics (ALIE, IPM, mimic ...)
estimate them from deltas it trains itself on disjoint slices of its local data.
Data attacks train on transformed labels; ``withhold`` commits and never serves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from node.aggregate.registry import Rule
from node.attacks import AttackContext, get_attack
from node.learning.fixedpoint import SCALE, FixedParams
from node.learning.tasks import Dataset

ESTIMATION_SLICES = 4
Trainer = Callable[[Dataset, int], FixedParams]  # (data, seed) -> honest delta


def is_withholding(attack: str) -> bool:
    return bool(attack) and get_attack(attack).kind == "protocol"


def poisoned_data(attack: str, data: Dataset) -> Dataset:
    """The training data a data-side attacker uses (unchanged for other attacks)."""
    spec = get_attack(attack) if attack else None
    if spec is None or spec.kind != "data" or spec.labels is None:
        return data
    return Dataset(data.features, spec.labels(data.labels))


def crafted_delta(
    attack: str,
    own: FixedParams,
    data: Dataset,
    train: Trainer,
    rule: Rule,
    norm_bound: float,
    round_id: int,
    previous: FixedParams | None,
) -> FixedParams:
    """The delta a model-side attacker commits instead of its honest one."""
    spec = get_attack(attack)
    if spec.kind not in ("model", "invalid") or spec.craft is None:
        return own
    sample = [own] + [
        train(part, round_id * 100 + i) for i, part in enumerate(_slices(data), start=1)
    ]

    def aggregate(byzantine: Sequence[FixedParams]) -> FixedParams:
        inputs = list(byzantine) + sample
        return rule(inputs, [1] * len(inputs)).delta

    ctx = AttackContext(
        honest=sample,
        f=1,
        rng=np.random.default_rng(round_id),
        aggregate=aggregate,
        previous=previous,
        visible=sample,
        norm_bound=int(norm_bound * SCALE),
    )
    return spec.craft(ctx)[0]


def _slices(data: Dataset) -> list[Dataset]:
    parts = np.array_split(np.arange(len(data)), ESTIMATION_SLICES)
    return [Dataset(data.features[p], data.labels[p]) for p in parts if len(p)]
