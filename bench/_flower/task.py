"""fedchain custom task for bench/vs_flower.py: MNIST 5k with the quickstart CNN.

Resolved by the nodes as ``bench._flower.task:lenet_task`` (docs/tasks.md: custom tasks);
the repository root must be on the nodes' PYTHONPATH.
"""

from __future__ import annotations

from bench._flower.model import build_lenet
from node.learning.tasks import TASKS, Task

TASK_SPEC = "bench._flower.task:lenet_task"


def lenet_task() -> Task:
    return Task("mnist5k-lenet", build_lenet, TASKS["mnist5k-cnn"].load_all)
