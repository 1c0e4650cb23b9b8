"""What the Flower app does each round, without flwr: local training and evaluation.

Training is fedchain's own ``train_local`` (the optimizer, batch order and seed a fedchain
node uses: seed = partition index * 1_000_003 + round), so both sides run the same local
algorithm and only the system around it differs. The Flower app's client and server
(bench/_flower/app/fedbench) call these functions; the suite tests them in fedchain's venv.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from bench._flower.data import load_xy, partition_file
from bench._flower.model import build_lenet
from node.learning.tasks import Dataset
from node.learning.train import evaluate, train_local

State = dict[str, np.ndarray]


def _model(state: Mapping[str, np.ndarray]) -> torch.nn.Module:
    model = build_lenet()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return model


def train_seed(index: int, server_round: int) -> int:
    """The seed a fedchain node with data_seed = ``index`` trains round r with."""
    return index * 1_000_003 + server_round


def local_round(
    state: Mapping[str, np.ndarray],
    data_dir: Path,
    index: int,
    server_round: int,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
) -> tuple[State, int]:
    """Train partition ``index`` from ``state``; the trained state and the example count."""
    data = Dataset(*load_xy(partition_file(data_dir, index)))
    model = _model(state)
    seed = train_seed(index, server_round)
    train_local(model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}, len(data)


def accuracy_on_test(state: Mapping[str, np.ndarray], data_dir: Path) -> float:
    return evaluate(_model(state), Dataset(*load_xy(data_dir / "test.npz")))
