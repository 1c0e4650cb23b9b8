"""Split a task's data set into a shared test split and per-node training partitions."""

from __future__ import annotations

import numpy as np

from node.errors import ConfigError
from node.learning.tasks import TEST_FRACTION, Dataset


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


def iid_partition(train: Dataset, index: int, count: int, seed: int) -> Dataset:
    """Partition ``index`` of ``count`` disjoint shuffled shards of the training split."""
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"partition index {index} out of range for {count} partitions")
    order = _permutation(len(train), seed + 1)
    mine = np.array_split(order, count)[index]
    return Dataset(train.features[mine], train.labels[mine])
