"""FedProx's proximal term in local training, and the local step count FedNova uses."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from node.learning.local import compute_delta, genesis_params
from node.learning.partition import train_test_split
from node.learning.tasks import Dataset, get_task
from node.learning.train import MomentumSGD, local_steps, train_local
from node.update.codec import encode_model


@pytest.fixture(scope="module")
def small() -> Dataset:
    data, _ = train_test_split(get_task("digits-mlp").load_all(), 0)
    return Dataset(data.features[:200], data.labels[:200])


def _delta(data: Dataset, mu: float | None) -> dict[str, np.ndarray]:
    task = get_task("digits-mlp")
    extra = {} if mu is None else {"prox_mu": mu}
    return compute_delta(task, genesis_params(task), data, epochs=2, lr=0.05, batch_size=32,
                         seed=4, **extra)  # fmt: skip


def _norm(delta: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(v.astype(np.float64) ** 2) for v in delta.values())))


def test_mu_zero_is_plain_sgd_and_mu_is_reproducible(small: Dataset) -> None:
    assert encode_model(_delta(small, 0.0)) == encode_model(_delta(small, None))
    assert encode_model(_delta(small, 0.5)) == encode_model(_delta(small, 0.5))
    assert encode_model(_delta(small, 0.5)) != encode_model(_delta(small, 0.0))


def test_a_larger_mu_keeps_the_update_closer_to_the_base(small: Dataset) -> None:
    norms = [_norm(_delta(small, mu)) for mu in (0.0, 1.0, 10.0)]
    assert norms[0] > norms[1] > norms[2] > 0


def test_proximal_gradient_matches_autograd_of_the_fedprox_loss(small: Dataset) -> None:
    """One epoch of ours against the FedProx loss written out (autograd through the
    proximal term mu/2 ||w - w0||^2)."""
    torch.manual_seed(0)
    ours = get_task("digits-mlp").build_model()
    reference = copy.deepcopy(ours)
    start = [p.detach().clone() for p in reference.parameters()]
    mu, lr, batch = 0.7, 0.05, 32
    steps = train_local(ours, small, epochs=1, lr=lr, batch_size=batch, seed=9, prox_mu=mu)
    opt = MomentumSGD(list(reference.parameters()), lr=lr, momentum=0.9)  # = torch's SGD
    order = torch.randperm(len(small), generator=torch.Generator().manual_seed(9))
    x, y = torch.from_numpy(small.features), torch.from_numpy(small.labels)
    for first in range(0, len(small), batch):
        b = order[first : first + batch]
        opt.zero_grad()
        prox = sum(
            ((p - p0) ** 2).sum() for p, p0 in zip(reference.parameters(), start, strict=True)
        )
        loss = nn.CrossEntropyLoss()(reference(x[b]), y[b]) + mu / 2 * prox
        loss.backward()
        opt.step()
    for a, b_ in zip(ours.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b_, atol=1e-5)
    assert steps == local_steps(len(small), epochs=1, batch_size=batch) == 7


def test_local_steps_counts_every_batch_of_every_epoch() -> None:
    assert local_steps(64, epochs=3, batch_size=32) == 6
    assert local_steps(65, epochs=3, batch_size=32) == 9
    assert local_steps(0, epochs=3, batch_size=32) == 0
    with pytest.raises(ValueError):
        local_steps(10, epochs=1, batch_size=0)


def test_negative_mu_is_refused(small: Dataset) -> None:
    with pytest.raises(ValueError, match="prox_mu"):
        _delta(small, -0.1)
