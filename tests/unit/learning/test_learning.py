import numpy as np
import pytest

from node.errors import ConfigError
from node.learning.fixedpoint import SCALE, from_fixed, to_fixed
from node.learning.local import accuracy_of, compute_delta, genesis_params
from node.learning.partition import iid_partition, train_test_split
from node.learning.tasks import get_task
from node.update.codec import encode_model


def test_fixed_point_roundtrip_within_half_lsb() -> None:
    import torch

    state = {"w": torch.tensor([0.1, -1.5, 3.14159, 0.0])}
    back = from_fixed(to_fixed(state))["w"]
    assert torch.max(torch.abs(back - state["w"])).item() <= 0.5 / SCALE + 1e-7


def test_genesis_is_reproducible() -> None:
    task = get_task("digits-mlp")
    assert encode_model(genesis_params(task)) == encode_model(genesis_params(task))
    assert encode_model(genesis_params(task, seed=1)) != encode_model(genesis_params(task))


def test_partitions_are_disjoint_and_cover_train() -> None:
    task = get_task("digits-mlp")
    train, test = train_test_split(task.load_all(), seed=0)
    parts = [iid_partition(train, i, 4, seed=0) for i in range(4)]
    assert sum(len(p) for p in parts) == len(train)
    rows = {tuple(r) for p in parts for r in p.features.round(4).tolist()}
    assert len(test) > 0 and len(rows) > 0.95 * len(train)
    with pytest.raises(ConfigError):
        iid_partition(train, 4, 4, seed=0)


def test_unknown_task_names_known_ones() -> None:
    with pytest.raises(ConfigError, match="digits-mlp"):
        get_task("nope")


def test_local_training_improves_on_genesis() -> None:
    task = get_task("digits-mlp")
    train, test = train_test_split(task.load_all(), seed=0)
    base = genesis_params(task)
    delta = compute_delta(task, base, train, epochs=2, lr=0.05, batch_size=32, seed=0)
    trained = {n: (base[n].astype(np.int64) + delta[n]).astype(np.int32) for n in base}
    assert accuracy_of(task, trained, test) > accuracy_of(task, base, test) + 0.3
