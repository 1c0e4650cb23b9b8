"""The compressed update codec: exact decoding, error feedback, strict rejection."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from node.errors import UpdateRejected
from node.update import feedback, sparse
from node.update.codec import CODEC, UpdateHeader, codec_problem, decode_update, encode_update
from node.update.fixedpoint import SCALE
from node.verify.checks import Expectation, fixed_sum_of_squares, verify_update

PACKED = "topk-int8-p100"
SHAPES = {"conv.weight": (4, 3, 5), "conv.bias": (4,), "fc.weight": (10, 40)}
HEADER = UpdateHeader("31337:0xc", 2, "0xA", "bafybase", 50, codec=PACKED)


def delta(seed: int, spread: int = 40_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.integers(-spread, spread, size=s).astype(np.int32) for n, s in SHAPES.items()}


def body_of(blob: bytes) -> tuple[bytes, int]:
    (head_len,) = struct.unpack_from("<I", blob, 4)
    return blob[: 8 + head_len], 8 + head_len


def test_decoding_is_exact_and_deterministic() -> None:
    sent = sparse.compress(delta(1), 100)
    blob = encode_update(HEADER, sent)
    header, decoded = decode_update(blob, PACKED, SHAPES)
    assert header == HEADER
    for name, values in sent.items():
        assert decoded[name].dtype == np.int32
        assert np.array_equal(decoded[name], values)
        assert np.count_nonzero(values) <= sparse.kept(values.size, 100)
    assert encode_update(HEADER, sparse.compress(delta(1), 100)) == blob
    dense = encode_update(UpdateHeader("31337:0xc", 2, "0xA", "bafybase", 50), delta(1))
    bodies = [len(b) - len(body_of(b)[0]) for b in (dense, blob)]
    assert bodies[0] > 8 * bodies[1]


def test_error_feedback_carries_exactly_what_was_left_out() -> None:
    residual: dict[str, np.ndarray] = {}
    total_sent = {n: np.zeros(s, dtype=np.int64) for n, s in SHAPES.items()}
    total_delta = {n: np.zeros(s, dtype=np.int64) for n, s in SHAPES.items()}
    for r in range(4):
        d = delta(10 + r)
        sent, left = feedback.step(d, residual, 50)
        for n in SHAPES:
            prev = residual.get(n, np.zeros(SHAPES[n], dtype=np.int32))
            assert np.array_equal(sent[n].astype(np.int64) + left[n], d[n].astype(np.int64) + prev)
            total_sent[n] += sent[n]
            total_delta[n] += d[n]
        residual = left
    for n in SHAPES:  # nothing lost, only delayed
        assert np.array_equal(total_sent[n] + residual[n], total_delta[n])


def test_compressed_norm_stays_within_the_verifier_bound() -> None:
    big = delta(3, spread=2_000_000)
    sent = sparse.compress(big, 100, norm_limit=int(5.0 * SCALE))
    assert fixed_sum_of_squares(sent) <= (5 * SCALE) ** 2
    blob = encode_update(HEADER, sent)
    expect = Expectation("31337:0xc", 2, "0xA", "bafybase", SHAPES, 100, 5.0, PACKED)
    verify_update(blob, expect)
    with pytest.raises(UpdateRejected) as info:  # the bound applies to the decoded delta
        verify_update(encode_update(HEADER, sparse.compress(big, 100)), expect)
    assert info.value.reason == "norm_bound"


def test_residual_survives_a_restart_and_a_retrained_round(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = feedback.outgoing(tmp_path, "d", 1, delta(20), PACKED, 20.0)
    saved = feedback.load(tmp_path)
    assert saved is not None and saved.round == 1
    again = feedback.outgoing(tmp_path, "d", 1, delta(20), PACKED, 20.0)  # crash, retrain r1
    assert all(np.array_equal(first[n], again[n]) for n in SHAPES)
    nxt = feedback.outgoing(tmp_path, "d", 2, delta(21), PACKED, 20.0)
    sent, _ = feedback.step(delta(21), saved.after, 100, 20 * SCALE)
    assert all(np.array_equal(nxt[n], sent[n]) for n in SHAPES)
    assert feedback.residual_for(feedback.load(tmp_path), "other", 3) == {}
    (tmp_path / feedback.FILE_NAME).write_bytes(b"PK\x03\x04 torn")  # a torn write
    assert feedback.load(tmp_path) is None
    assert feedback.outgoing(tmp_path, "d", 3, delta(22), CODEC, 20.0)["conv.bias"] is not None


def _rejected(blob: bytes, codec: str = PACKED) -> UpdateRejected:
    with pytest.raises(UpdateRejected) as info:
        decode_update(blob, codec, SHAPES)
    return info.value


def test_malformed_and_oversized_payloads_are_rejected_with_a_reason() -> None:
    blob = encode_update(HEADER, sparse.compress(delta(5), 100))
    head, start = body_of(blob)
    # the first tensor in header order is conv.bias (4 entries: 1 bitmap byte, keeps 1)
    scale = blob[start : start + 4]
    oversized = head + scale + b"\x03" + b"\x05\x05" + blob[start + 6 :]
    err = _rejected(oversized)
    assert err.reason == "malformed" and "oversized" in err.detail
    assert "padding" in _rejected(head + scale + b"\x10" + blob[start + 5 :]).detail
    assert "±1..127" in _rejected(blob[: start + 5] + b"\x80" + blob[start + 6 :]).detail
    assert "±1..127" in _rejected(blob[: start + 5] + b"\x00" + blob[start + 6 :]).detail
    huge = struct.pack("<I", sparse.MAX_SCALE + 1)
    assert "scale" in _rejected(head + huge + blob[start + 4 :]).detail
    assert "trailing" in _rejected(blob + b"\x00").detail
    assert "too short" in _rejected(blob[:-1]).detail


def test_codec_other_than_the_deployments_is_refused() -> None:
    dense = encode_update(UpdateHeader("31337:0xc", 2, "0xA", "bafybase", 50), delta(6))
    assert _rejected(dense).reason == "wrong_codec"
    packed = encode_update(HEADER, sparse.compress(delta(6), 100))
    assert _rejected(packed, CODEC).reason == "wrong_codec"
    weird = packed.replace(b'"codec":"topk-int8-p100"', b'"codec":"topk-int8-p1000"')
    assert _rejected(weird).reason == "malformed"
    wrong_shape = {**SHAPES, "fc.weight": (40, 10)}
    with pytest.raises(UpdateRejected) as info:
        decode_update(packed, PACKED, wrong_shape)
    assert info.value.reason == "bad_shape"


def test_codec_names() -> None:
    assert codec_problem(CODEC) is None and codec_problem("topk-int8-p5") is None
    for bad in ("topk-int8-p0", "topk-int8-p1000", "topk-int8-p05", "gzip"):
        assert codec_problem(bad) is not None
    with pytest.raises(ValueError, match="nonzero entries"):
        encode_update(HEADER, delta(7))  # not compressed first


def test_codec_verifier_and_rules_do_not_import_torch() -> None:
    code = "import sys, node.update.codec, node.verify.checks, node.aggregate.step; "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
