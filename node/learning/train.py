"""Local training and evaluation in float32 on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from node.learning.tasks import Dataset


def train_local(
    model: nn.Module, data: Dataset, *, epochs: int, lr: float, batch_size: int, seed: int
) -> None:
    """SGD with momentum over the local data, in place."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.from_numpy(data.features)
    labels = torch.from_numpy(data.labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(features[batch]), labels[batch])
            loss.backward()
            optimizer.step()


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset) -> float:
    """Top-1 accuracy."""
    model.eval()
    logits = model(torch.from_numpy(data.features))
    predicted = logits.argmax(dim=1).numpy()
    return float(np.mean(predicted == data.labels))
