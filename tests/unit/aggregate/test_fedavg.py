import numpy as np
import pytest

from node.aggregate.fedavg import apply_delta, capped_weights, fedavg
from node.aggregate.rewards import split_pool


def _delta(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "a": rng.integers(-(2**20), 2**20, size=(7, 5), dtype=np.int32),
        "b": rng.integers(-(2**20), 2**20, size=(5,), dtype=np.int32),
    }


def test_fedavg_is_exact_weighted_mean_rounded_half_up() -> None:
    d1 = {"w": np.array([1, 2, -3], dtype=np.int32)}
    d2 = {"w": np.array([4, 2, 0], dtype=np.int32)}
    out = fedavg([d1, d2], [1, 2])
    # (1*1 + 2*4)/3 = 3, (2+4)/3 = 2, (-3 + 0)/3 = -1
    assert out["w"].tolist() == [3, 2, -1]
    assert out["w"].dtype == np.int32


def test_fedavg_is_order_invariant_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    deltas = [_delta(rng) for _ in range(6)]
    weights = [10, 3, 7, 1, 9, 4]
    reference = fedavg(deltas, weights)
    order = rng.permutation(6)
    shuffled = fedavg([deltas[i] for i in order], [weights[i] for i in order])
    for name in reference:
        assert reference[name].tobytes() == shuffled[name].tobytes()


def test_fedavg_does_not_mutate_inputs() -> None:
    rng = np.random.default_rng(2)
    deltas = [_delta(rng) for _ in range(3)]
    copies = [{k: v.copy() for k, v in d.items()} for d in deltas]
    fedavg(deltas, [1, 2, 3])
    for original, copy in zip(deltas, copies, strict=True):
        for name in original:
            assert np.array_equal(original[name], copy[name])


def test_fedavg_rejects_bad_weights() -> None:
    d = {"w": np.zeros(2, dtype=np.int32)}
    with pytest.raises(ValueError):
        fedavg([d], [0])
    with pytest.raises(ValueError):
        fedavg([], [])


def test_apply_delta_saturates() -> None:
    base = {"w": np.array([2**31 - 10, -(2**31) + 5], dtype=np.int32)}
    delta = {"w": np.array([100, -100], dtype=np.int32)}
    assert apply_delta(base, delta)["w"].tolist() == [2**31 - 1, -(2**31)]


def test_capped_weights() -> None:
    assert capped_weights([5, 50_000, 0], 1000) == [5, 1000, 1]


def test_split_pool_proportional_and_never_overpays() -> None:
    amounts = split_pool(1000, {"0xb": 1, "0xa": 2, "0xc": 0})
    assert amounts == {"0xa": 666, "0xb": 333}
    assert sum(amounts.values()) <= 1000
    assert split_pool(1000, {}) == {}
