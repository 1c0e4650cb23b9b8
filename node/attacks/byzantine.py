"""Byzantine node behaviour for simulations (``attack`` in a node config's [simulation] table).

A Byzantine node sees only its own data (commit-reveal hides the others' updates until
it has committed), so model attacks that need honest statistics (ALIE, IPM, mimic ...)
estimate them from deltas it trains itself on disjoint slices of its local data.
Data attacks train on transformed labels; ``withhold`` commits and never serves.

Colluding attackers (``attack_group``: the partitions of one operator's nodes) pool
their data, estimate the statistics from it with the same seeds, and so all commit the
same crafted update, as in the published attacks (ALIE: "all corrupted workers send the
same parameters"). An attacker outside a group works alone from its own data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from node.aggregate.registry import Rule
from node.attacks import AttackContext, get_attack
from node.config import NodeConfig
from node.learning.partition import partition_by_spec
from node.learning.tasks import Dataset
from node.update.fixedpoint import SCALE, FixedParams

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


def attacker_pool(group: Sequence[int], cfg: NodeConfig, train: Dataset) -> Dataset | None:
    """The pooled data of this node's colluding ``group`` (partition indices; empty: it
    attacks alone, None)."""
    if not group:
        return None
    parts = [
        partition_by_spec(train, cfg.partition, i, cfg.partition_count, cfg.partition_seed)
        for i in sorted(set(group))
    ]
    return Dataset(
        np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts])
    )


def crafted_delta(
    attack: str,
    own: FixedParams,
    data: Dataset,
    train: Trainer,
    rule: Rule,
    norm_bound: float,
    round_id: int,
    previous: FixedParams | None,
    pool: Dataset | None = None,
) -> FixedParams:
    """The delta a model-side attacker commits instead of its honest one.

    With a colluding group's ``pool`` the estimate uses only the pool (not ``own``), so
    every member of the group computes the same update."""
    spec = get_attack(attack)
    if spec.kind not in ("model", "invalid") or spec.craft is None:
        return own
    sliced = [
        train(part, round_id * 100 + i)
        for i, part in enumerate(_slices(data if pool is None else pool), 1)
    ]
    sample = sliced if pool is not None else [own, *sliced]

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
