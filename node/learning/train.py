"""Local training and evaluation in float32 on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from node.learning.pooling import fast_pools
from node.learning.tasks import Dataset


class MomentumSGD:
    """torch.optim.SGD(momentum=m) step for step, with the same tensor ops (so the same
    bits). torch's optimizers import torch._dynamo on first use: ~50 MB of RSS and a
    second of CPU per node process that plain SGD does not need."""

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float) -> None:
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            buf = self.buffers[i]
            if buf is None:
                buf = self.buffers[i] = torch.clone(p.grad).detach()
            else:
                buf.mul_(self.momentum).add_(p.grad)
            p.add_(buf, alpha=-self.lr)


def train_local(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    prox_mu: float = 0.0,
) -> int:
    """SGD with momentum over the local data, in place; returns the optimizer steps taken.

    ``prox_mu`` > 0 is FedProx: the loss gains ``prox_mu / 2 * ||w - w_start||**2``, whose
    gradient ``prox_mu * (w - w_start)`` is added to each parameter's gradient (the same
    tensor ops on every node, so training stays as reproducible as plain SGD).
    """
    if prox_mu < 0:
        raise ValueError(f"prox_mu must be >= 0, got {prox_mu}")
    generator = torch.Generator().manual_seed(seed)
    features = torch.from_numpy(data.features)
    labels = torch.from_numpy(data.labels)
    params = list(model.parameters())
    optimizer = MomentumSGD(params, lr=lr, momentum=0.9)
    start = [p.detach().clone() for p in params] if prox_mu > 0 else []
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for first in range(0, len(data), batch_size):
            batch = order[first : first + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(features[batch]), labels[batch])
            loss.backward()
            if start:
                _add_proximal_gradient(params, start, prox_mu)
            optimizer.step()
            steps += 1
    return steps


@torch.no_grad()
def _add_proximal_gradient(
    params: list[nn.Parameter], start: list[torch.Tensor], mu: float
) -> None:
    for p, p0 in zip(params, start, strict=True):
        if p.grad is not None:
            p.grad.add_(p - p0, alpha=mu)


def local_steps(num_examples: int, *, epochs: int, batch_size: int) -> int:
    """The optimizer steps ``train_local`` takes on ``num_examples`` examples (FedNova's τ)."""
    if num_examples < 0 or epochs < 0 or batch_size < 1:
        raise ValueError("local_steps needs num_examples >= 0, epochs >= 0, batch_size >= 1")
    return epochs * -(-num_examples // batch_size)


EVAL_BATCH = 256  # bounds the activations held at once (a CNN on 1000 images: ~45 MB)


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset) -> float:
    """Top-1 accuracy."""
    model.eval()
    features = torch.from_numpy(data.features)
    correct = 0
    with fast_pools(model):  # torch's 2x2 max pools, the same bits at a fifth of the CPU
        for start in range(0, len(data), EVAL_BATCH):
            predicted = model(features[start : start + EVAL_BATCH]).argmax(dim=1).numpy()
            correct += int(np.sum(predicted == data.labels[start : start + EVAL_BATCH]))
    return correct / len(data) if len(data) else float("nan")
