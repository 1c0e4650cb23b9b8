"""node/vote.py ``evaluate_outcome``: the accuracy a vote carries, computed off the trio
thread (a worker thread), the same value as ``accuracy_of``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np
import trio
from torch import nn

from node.learning.local import accuracy_of, compute_delta, genesis_params
from node.learning.partition import iid_partition, train_test_split
from node.learning.tasks import Dataset, Task, get_task
from node.vote import evaluate_outcome


@dataclass
class EvalCtx:
    """What ``evaluate_outcome`` reads of a node context."""

    task: Task
    test_data: Dataset


def test_the_vote_metric_is_accuracy_of_computed_on_a_worker_thread() -> None:
    task = get_task("mnist5k-cnn")
    train, test = train_test_split(task.load_all(), seed=0)
    base = genesis_params(task)
    delta = compute_delta(
        task, base, iid_partition(train, 0, 4, seed=0), epochs=1, lr=0.05, batch_size=32, seed=1
    )
    model = {n: (base[n].astype(np.int64) + delta[n]).astype(np.int32) for n in base}
    built_on: list[int] = []

    def build() -> nn.Module:
        built_on.append(threading.get_ident())
        return task.build_model()

    ctx = EvalCtx(replace(task, build_model=build), test)

    async def main() -> tuple[float, int]:
        return await evaluate_outcome(ctx, model), threading.get_ident()  # type: ignore[arg-type]

    accuracy, trio_thread = trio.run(main)
    assert accuracy == accuracy_of(task, model, test) and 0.3 < accuracy <= 1.0
    assert built_on and built_on[0] != trio_thread
