"""The files both sides of bench/vs_flower.py read: partitions, test set, genesis model.

``write_inputs`` runs in fedchain's venv and cuts the data exactly as a fedchain node does
(``train_test_split`` with SPLIT_SEED, ``partition_by_spec``, ``genesis_params``); the
Flower side only loads the .npz files (numpy and torch, no fedchain dependencies).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

PARTITION = "iid"


def partition_file(data_dir: Path, index: int) -> Path:
    return data_dir / f"partition{index}.npz"


def write_inputs(data_dir: Path, task_spec: str, nodes: int) -> dict[str, Any]:
    """Write partition{i}.npz, test.npz and genesis.npz; returns their sizes and digests."""
    from node.config import NodeConfig
    from node.learning.local import genesis_params, model_from_params
    from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split
    from node.learning.tasks import get_task

    seed = NodeConfig.__dataclass_fields__["partition_seed"].default
    task = get_task(task_spec)
    train, test = train_test_split(task.load_all(), SPLIT_SEED)
    data_dir.mkdir(parents=True, exist_ok=True)
    sizes = []
    for i in range(nodes):
        part = partition_by_spec(train, PARTITION, i, nodes, seed)
        np.savez(partition_file(data_dir, i), features=part.features, labels=part.labels)
        sizes.append(len(part))
    np.savez(data_dir / "test.npz", features=test.features, labels=test.labels)
    model = model_from_params(task, genesis_params(task))
    genesis = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    np.savez(data_dir / "genesis.npz", **genesis)
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(data_dir.glob("*.npz"))
    }
    return {"partition_sizes": sizes, "test_size": len(test), "sha256_16": digests}


def load_xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as f:
        return f["features"], f["labels"]


def load_genesis(data_dir: Path) -> dict[str, np.ndarray]:
    with np.load(data_dir / "genesis.npz") as f:
        return {k: f[k] for k in f.files}
