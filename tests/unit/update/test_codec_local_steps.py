"""The FedNova local step count in the update header; headers without it stay as they were."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

from node.errors import UpdateRejected
from node.update import codec
from node.update.codec import UpdateHeader, decode_update, encode_update

HEADER = UpdateHeader("31337:0xabc", 3, "0xAuthor", "bafybase", 12)
DELTA = {"w": np.array([1, -2, 3], dtype=np.int32)}


def _blob_with(fields: dict[str, object]) -> bytes:
    return codec._encode(codec.UPDATE_MAGIC, fields, DELTA)


def test_steps_roundtrip() -> None:
    header = replace(HEADER, local_steps=42)
    decoded, _ = decode_update(encode_update(header, DELTA))
    assert decoded == header and decoded.local_steps == 42


def test_without_steps_the_bytes_are_the_pre_fednova_format() -> None:
    old_fields = {k: v for k, v in asdict(HEADER).items() if k != "local_steps"}
    blob = encode_update(HEADER, DELTA)
    assert blob == _blob_with(old_fields)
    assert b"local_steps" not in blob
    assert decode_update(blob)[0].local_steps == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True, None, codec.MAX_LOCAL_STEPS + 1])
def test_bad_step_counts_are_malformed(bad: object) -> None:
    blob = _blob_with({**asdict(HEADER), "local_steps": bad})
    with pytest.raises(UpdateRejected, match="local_steps") as info:
        decode_update(blob)
    assert info.value.reason == "malformed"
