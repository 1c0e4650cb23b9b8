"""Byzantine simulation nodes: colluding attackers pool their data and send one update."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from node.aggregate import build_rule
from node.attacks.byzantine import attacker_pool, crafted_delta
from node.config import NodeConfig
from node.learning.local import compute_delta, genesis_params
from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split
from node.learning.tasks import Dataset, get_task
from node.update.fixedpoint import FixedParams

TASK = get_task("digits-mlp")
TRAIN, _ = train_test_split(TASK.load_all(), SPLIT_SEED)
BASE = genesis_params(TASK)
RULE = build_rule("nnm+trimmed_mean", 2)


def _cfg(index: int) -> NodeConfig:
    return NodeConfig(
        data_dir=Path("."),
        deployment=Path("."),
        key_file=Path("."),
        task="digits-mlp",
        partition="dirichlet:0.5",
        partition_index=index,
        partition_count=6,
        data_seed=index,
    )


def _train(data: Dataset, seed: int) -> FixedParams:
    return compute_delta(TASK, BASE, data, epochs=1, lr=0.05, batch_size=32, seed=seed)


def _crafted(cfg: NodeConfig, group: tuple[int, ...]) -> FixedParams:
    local = partition_by_spec(TRAIN, cfg.partition, cfg.partition_index, 6, 0)
    own = _train(local, cfg.data_seed)
    pool = attacker_pool(group, cfg, TRAIN)
    return crafted_delta("alie", own, local, _train, RULE, 20.0, 3, None, pool=pool)


def _equal(a: FixedParams, b: FixedParams) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_pool_is_the_union_of_the_group_partitions() -> None:
    pool = attacker_pool((5, 4), _cfg(4), TRAIN)
    parts = [partition_by_spec(TRAIN, "dirichlet:0.5", i, 6, 0) for i in (4, 5)]
    assert pool is not None and len(pool) == sum(len(p) for p in parts)
    assert attacker_pool((), _cfg(4), TRAIN) is None


def test_colluding_attackers_send_the_same_update_lone_ones_do_not() -> None:
    group = (4, 5)
    together = [_crafted(_cfg(i), group) for i in group]
    alone = [_crafted(_cfg(i), ()) for i in group]
    assert _equal(together[0], together[1])
    assert not _equal(alone[0], alone[1])
    assert not _equal(together[0], alone[0])
