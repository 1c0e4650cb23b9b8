"""The CNN both sides of bench/vs_flower.py train: Flower's quickstart ``Net`` for 1x28x28.

Flower's quickstart-pytorch CNN (conv 6@5x5, pool, conv 16@5x5, pool, fc 120, fc 84, fc 10)
with one input channel: 44,426 parameters. Written as an ``nn.Sequential`` that takes the
flat 784-pixel rows fedchain's MNIST 5k task yields, so the fedchain nodes (through the
custom task in bench/_flower/task.py) and the Flower clients build the same module.
Imports only torch: the Flower venv has no fedchain dependencies.
"""

from __future__ import annotations

from torch import nn


def build_lenet() -> nn.Module:
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def parameter_count() -> int:
    return sum(p.numel() for p in build_lenet().parameters())
