"""node/learning/pooling.py: the evaluation's max pool is torch's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from node.learning.local import accuracy_of, compute_delta, genesis_params, model_from_params
from node.learning.partition import iid_partition, train_test_split
from node.learning.pooling import FastMaxPool2x2, _fast_ok, fast_pools, max_pool_2x2
from node.learning.tasks import Dataset, get_task
from node.learning.train import evaluate

BIG = (16, 8, 32, 32)  # over FAST_MIN_NUMEL: the fast path


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32 if t.dtype == torch.float32 else torch.int64)


def _inputs() -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    ties = torch.randint(-2, 3, BIG, generator=g).float()  # many equal values per window
    relu = torch.relu(torch.randn(BIG, generator=g))  # many +0.0 windows
    infs = torch.randn(BIG, generator=g)
    infs[torch.rand(BIG, generator=g) < 0.05] = float("inf")
    neg_inf = torch.randn(BIG, generator=g)
    neg_inf[torch.rand(BIG, generator=g) < 0.3] = float("-inf")
    signed_zero = ties.clone()
    signed_zero[torch.rand(BIG, generator=g) < 0.3] = -0.0
    nan = torch.randn(BIG, generator=g)
    nan[torch.rand(BIG, generator=g) < 0.01] = float("nan")
    return [
        ("ties", ties),
        ("relu", relu),
        ("inf", infs),
        ("-inf", neg_inf),
        ("float64", torch.randn(BIG, generator=g, dtype=torch.float64)),
        ("-0.0", signed_zero),
        ("nan", nan),
        ("small", torch.randn(2, 3, 8, 8, generator=g)),
        ("odd", torch.randn(8, 8, 33, 33, generator=g)),
        ("strided", torch.randn(16, 8, 32, 64, generator=g)[..., ::2]),
    ]


@pytest.mark.parametrize(("name", "x"), _inputs())
def test_the_same_bits_as_torchs_kernel(name: str, x: torch.Tensor) -> None:
    assert torch.equal(_bits(max_pool_2x2(x)), _bits(F.max_pool2d(x, 2)))


def test_the_fast_path_runs_unless_the_bits_could_differ() -> None:
    fast = {name for name, x in _inputs() if _fast_ok(x)}
    # -0.0 (a tie with +0.0 may keep either) and the shapes the views do not handle go to
    # torch's kernel; a NaN is caught after the fast path, from the output
    assert fast == {"ties", "relu", "inf", "-inf", "float64", "nan"}


def test_with_autograd_it_is_torchs_kernel() -> None:
    x = torch.randn(BIG, requires_grad=True)
    assert not _fast_ok(x)
    max_pool_2x2(x).sum().backward()
    assert x.grad is not None and int((x.grad != 0).sum()) == x.numel() // 4
    with torch.no_grad():
        assert _fast_ok(x)


def test_fast_pools_swaps_plain_2x2_pools_only_and_puts_them_back() -> None:
    plain, three, strided = nn.MaxPool2d(2), nn.MaxPool2d(3), nn.MaxPool2d(2, stride=1)
    inner = nn.Sequential(nn.MaxPool2d((2, 2), stride=2))
    model = nn.Sequential(plain, three, strided, inner)
    with fast_pools(model) as swapped:
        assert swapped == 2
        assert isinstance(model[0], FastMaxPool2x2) and isinstance(inner[0], FastMaxPool2x2)
        assert model[1] is three and model[2] is strided
    assert model[0] is plain and isinstance(inner[0], nn.MaxPool2d)


def test_evaluation_gives_the_logits_and_accuracy_of_torchs_pools() -> None:
    task = get_task("mnist5k-cnn")  # conv, relu, 2x2 max pool: the pools are swapped
    train, test = train_test_split(task.load_all(), seed=0)
    base = genesis_params(task)
    delta = compute_delta(
        task, base, iid_partition(train, 0, 4, seed=0), epochs=1, lr=0.05, batch_size=32, seed=1
    )
    trained = {n: (base[n].astype(np.int64) + delta[n]).astype(np.int32) for n in base}
    model = model_from_params(task, trained).eval()
    features = torch.from_numpy(test.features[:256])
    with torch.no_grad():
        reference = model(features)
        with fast_pools(model) as swapped:
            fast = model(features)
    assert swapped > 0
    assert torch.equal(_bits(fast), _bits(reference))
    predicted = reference.argmax(dim=1).numpy()
    expected = float(np.mean(predicted == test.labels[:256]))
    assert evaluate(model, Dataset(test.features[:256], test.labels[:256])) == expected
    assert 0.3 < accuracy_of(task, trained, test) <= 1.0
