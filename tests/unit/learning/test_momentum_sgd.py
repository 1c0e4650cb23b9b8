"""Our momentum SGD gives torch.optim.SGD's bits, without importing torch._dynamo."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from node.learning import train
from node.learning.partition import train_test_split
from node.learning.tasks import get_task


@pytest.mark.parametrize("task_name", ["digits-mlp", "mnist5k-cnn"])
def test_same_bits_as_torch_sgd(task_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    task = get_task(task_name)
    data, _ = train_test_split(task.load_all(), 0)
    data = type(data)(data.features[:300], data.labels[:300])
    torch.manual_seed(0)
    ours = task.build_model()
    reference = copy.deepcopy(ours)
    initial = [t.clone() for t in ours.state_dict().values()]
    train.train_local(ours, data, epochs=2, lr=0.05, batch_size=32, seed=3)
    monkeypatch.setattr(
        train, "MomentumSGD", lambda p, lr, momentum: torch.optim.SGD(p, lr=lr, momentum=momentum)
    )
    train.train_local(reference, data, epochs=2, lr=0.05, batch_size=32, seed=3)
    trained = list(ours.state_dict().values())
    expected = list(reference.state_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(trained, expected, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(trained, initial, strict=True))


def test_local_training_does_not_load_dynamo() -> None:
    code = (
        "import sys\n"
        "from node.learning.local import compute_delta, genesis_params\n"
        "from node.learning.tasks import get_task\n"
        "t = get_task('digits-mlp'); d = t.load_all()\n"
        "compute_delta(t, genesis_params(t), d, epochs=1, lr=0.05, batch_size=32, seed=1)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
