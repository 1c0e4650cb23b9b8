"""Dirichlet label-skew partitions for the benchmarks (deterministic per seed)."""

from __future__ import annotations

import numpy as np

from node.learning.tasks import Dataset


def dirichlet_partition(
    train: Dataset, count: int, alpha: float, seed: int, min_size: int = 10
) -> list[Dataset]:
    """Split ``train`` among ``count`` nodes: per class, shares ~ Dirichlet(alpha).

    Redraws (with the next seed) until every node has at least ``min_size`` examples.
    Smaller alpha = more label skew; alpha >= 100 is close to IID.
    """
    labels = train.labels
    classes = np.unique(labels)
    for attempt in range(1000):
        rng = np.random.default_rng([seed, attempt])
        parts: list[list[int]] = [[] for _ in range(count)]
        for c in classes:
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            shares = rng.dirichlet(np.full(count, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for node, chunk in enumerate(np.split(idx, cuts)):
                parts[node].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            out = []
            for p in parts:
                order = np.sort(np.array(p, dtype=np.int64))
                out.append(Dataset(train.features[order], train.labels[order]))
            return out
    raise RuntimeError(f"no Dirichlet({alpha}) partition with {min_size}+ examples per node")
