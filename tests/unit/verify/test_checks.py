import dataclasses

import numpy as np
import pytest

from node.errors import UpdateRejected
from node.update.codec import UpdateHeader, encode_update
from node.update.fixedpoint import SCALE
from node.verify.checks import Expectation, fixed_sum_of_squares, verify_update

SHAPES = {"w": (2, 2), "b": (2,)}
EXPECT = Expectation(
    deployment="31337:0xabc",
    round=4,
    author="0xAbC",
    base_cid="bafybase",
    shapes=SHAPES,
    max_examples=100,
    norm_bound=5.0,
)
GOOD = UpdateHeader("31337:0xabc", 4, "0xabc", "bafybase", 10)


def _delta(scale: float = 0.5) -> dict[str, np.ndarray]:
    return {
        "w": np.full((2, 2), int(scale * SCALE), dtype=np.int32),
        "b": np.zeros(2, dtype=np.int32),
    }


def test_valid_update_passes_and_author_case_is_ignored() -> None:
    header, delta = verify_update(encode_update(GOOD, _delta()), EXPECT)
    assert header.round == 4
    assert delta["w"].shape == (2, 2)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"deployment": "1:0xother"}, "wrong_deployment"),
        ({"round": 3}, "wrong_round"),
        ({"author": "0xdef"}, "wrong_author"),
        ({"base_cid": "bafyother"}, "wrong_base"),
        ({"num_examples": 0}, "bad_examples"),
        ({"num_examples": 101}, "bad_examples"),
    ],
)
def test_header_binding(change: dict, reason: str) -> None:
    header = dataclasses.replace(GOOD, **change)
    with pytest.raises(UpdateRejected) as info:
        verify_update(encode_update(header, _delta()), EXPECT)
    assert info.value.reason == reason


def test_header_binding_is_checked_before_the_tensor_list() -> None:
    """A forged header over tensors the model lacks is refused for its header (what the
    sybil swarm and the explorer report), not as a shape mismatch."""
    foreign = {"sybil": np.zeros(16, dtype=np.int32)}
    with pytest.raises(UpdateRejected) as info:
        verify_update(encode_update(dataclasses.replace(GOOD, round=9), foreign), EXPECT)
    assert info.value.reason == "wrong_round"
    with pytest.raises(UpdateRejected) as info:
        verify_update(encode_update(GOOD, foreign), EXPECT)
    assert info.value.reason == "bad_shape"


def test_shape_and_norm() -> None:
    wrong = {"w": np.zeros((3, 2), dtype=np.int32), "b": np.zeros(2, dtype=np.int32)}
    with pytest.raises(UpdateRejected, match="bad_shape"):
        verify_update(encode_update(GOOD, wrong), EXPECT)
    # norm of a 2x2 block of 3.0 is 6.0 > 5.0
    with pytest.raises(UpdateRejected, match="norm_bound"):
        verify_update(encode_update(GOOD, _delta(3.0)), EXPECT)


def test_extreme_values_cannot_wrap_the_norm() -> None:
    huge = {"w": np.full((2, 2), 2**31 - 1, dtype=np.int32), "b": np.zeros(2, dtype=np.int32)}
    with pytest.raises(UpdateRejected, match="out_of_range"):
        verify_update(encode_update(GOOD, huge), EXPECT)


def test_sum_of_squares_is_exact() -> None:
    values = np.full(50_000, 2**24, dtype=np.int32)
    assert fixed_sum_of_squares({"x": values}) == 50_000 * 2**48
