"""From fixed-point base model to fixed-point update delta, and model evaluation."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch import nn

from node.learning.fixedpoint import FixedParams, from_fixed, saturate_int32, to_fixed
from node.learning.tasks import Dataset, Task, build_genesis_model
from node.learning.train import evaluate, train_local

GENESIS_SEED = 0


def genesis_params(task: Task, seed: int = GENESIS_SEED) -> FixedParams:
    return to_fixed(build_genesis_model(task, seed).state_dict())


def model_from_params(task: Task, params: Mapping[str, np.ndarray]) -> nn.Module:
    model = task.build_model()
    model.load_state_dict(from_fixed(params))
    return model


def shapes_of(params: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(values.shape) for name, values in params.items()}


def compute_delta(
    task: Task,
    base: Mapping[str, np.ndarray],
    data: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    prox_mu: float = 0.0,
) -> FixedParams:
    """Train from ``base`` on local data; return trained - base in fixed point.

    ``prox_mu`` > 0 trains with FedProx's proximal term around ``base``.
    """
    model = model_from_params(task, base)
    train_local(
        model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, prox_mu=prox_mu
    )
    trained = to_fixed(model.state_dict())
    return {n: saturate_int32(trained[n].astype(np.int64) - base[n]) for n in sorted(base)}


def accuracy_of(task: Task, params: Mapping[str, np.ndarray], test: Dataset) -> float:
    return evaluate(model_from_params(task, params), test)
