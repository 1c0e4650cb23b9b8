"""Split a task's data set into a shared test split and per-node training partitions."""

from __future__ import annotations

import numpy as np

from node.errors import ConfigError
from node.learning.tasks import TEST_FRACTION, Dataset

SPLIT_SEED = 0  # every node of a deployment holds out the same test split


def _permutation(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(size)


def train_test_split(data: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    order = _permutation(len(data), seed)
    n_test = int(len(data) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return (
        Dataset(data.features[train], data.labels[train]),
        Dataset(data.features[test], data.labels[test]),
    )


def _check_index(index: int, count: int) -> None:
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"partition index {index} out of range for {count} partitions")


def iid_partition(train: Dataset, index: int, count: int, seed: int) -> Dataset:
    """Partition ``index`` of ``count`` disjoint shuffled shards of the training split."""
    _check_index(index, count)
    order = _permutation(len(train), seed + 1)
    mine = np.array_split(order, count)[index]
    return Dataset(train.features[mine], train.labels[mine])


def dirichlet_partition(train: Dataset, index: int, count: int, seed: int, alpha: float) -> Dataset:
    """Label-skewed partition: each class is split among nodes by Dirichlet(alpha) shares.

    Every node draws the same split from ``seed`` and keeps its own part, so partitions
    are disjoint without coordination. Small alpha: each node sees few classes.
    """
    _check_index(index, count)
    if alpha <= 0:
        raise ConfigError(f"dirichlet alpha must be > 0, got {alpha}")
    rng = np.random.default_rng(seed + 2)
    mine: list[np.ndarray] = []
    for label in np.unique(train.labels):
        members = rng.permutation(np.flatnonzero(train.labels == label))
        shares = rng.dirichlet(np.full(count, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
        mine.append(np.split(members, cuts)[index])
    chosen = np.sort(np.concatenate(mine))
    return Dataset(train.features[chosen], train.labels[chosen])


def shard_partition(
    train: Dataset, index: int, count: int, seed: int, shards_per_node: int
) -> Dataset:
    """McMahan-style shards: sort by label, cut into count*k shards, deal k to each node."""
    _check_index(index, count)
    if shards_per_node < 1:
        raise ConfigError("shards per node must be >= 1")
    order = np.argsort(train.labels, kind="stable")
    shards = np.array_split(order, count * shards_per_node)
    dealt = np.random.default_rng(seed + 3).permutation(len(shards))
    chosen = np.sort(np.concatenate([shards[i] for i in dealt[index::count]]))
    return Dataset(train.features[chosen], train.labels[chosen])


def partition_by_spec(train: Dataset, spec: str, index: int, count: int, seed: int) -> Dataset:
    """``iid``, ``dirichlet:<alpha>`` or ``shards:<per node>``."""
    kind, _, arg = spec.partition(":")
    try:
        if kind == "iid" and not arg:
            return iid_partition(train, index, count, seed)
        if kind == "dirichlet":
            return dirichlet_partition(train, index, count, seed, float(arg))
        if kind == "shards":
            return shard_partition(train, index, count, seed, int(arg))
    except ValueError:
        pass
    raise ConfigError(f"bad partition {spec!r}: use iid, dirichlet:<alpha> or shards:<k>")
