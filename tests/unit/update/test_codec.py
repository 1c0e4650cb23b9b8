import numpy as np
import pytest

from node.errors import UpdateRejected
from node.update.codec import UpdateHeader, decode_model, decode_update, encode_model, encode_update

HEADER = UpdateHeader(
    deployment="31337:0xabc", round=3, author="0xAuthor", base_cid="bafybase", num_examples=12
)


def _params() -> dict[str, np.ndarray]:
    return {
        "layer.weight": np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
        "layer.bias": np.array([7, -8, 9], dtype=np.int32),
    }


def test_model_roundtrip_and_canonical_bytes() -> None:
    params = _params()
    blob = encode_model(params)
    decoded = decode_model(blob)
    assert {k: v.tolist() for k, v in decoded.items()} == {k: v.tolist() for k, v in params.items()}
    # insertion order must not change the bytes
    assert encode_model(dict(reversed(list(params.items())))) == blob


def test_update_roundtrip() -> None:
    header, delta = decode_update(encode_update(HEADER, _params()))
    assert header == HEADER
    assert delta["layer.bias"].tolist() == [7, -8, 9]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"XXXX" + b[4:],
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b[:4] + (10**6).to_bytes(4, "little") + b[8:],
        lambda b: b[:8] + b"!" + b[9:],
        lambda b: b"",
    ],
    ids=["magic", "truncated", "trailing", "header_len", "json", "empty"],
)
def test_malformed_update_is_rejected_as_malformed(mutate) -> None:  # type: ignore[no-untyped-def]
    blob = encode_update(HEADER, _params())
    with pytest.raises(UpdateRejected) as info:
        decode_update(mutate(blob))
    assert info.value.reason == "malformed"


def test_model_blob_is_not_an_update() -> None:
    with pytest.raises(UpdateRejected):
        decode_update(encode_model(_params()))
