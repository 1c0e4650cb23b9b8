"""Byte formats for models and updates.

Both are ``MAGIC | u32 header length | canonical JSON header | int32 LE tensors`` with the
tensors in header order. The same parameters always encode to the same bytes, so a
model's CID identifies it across nodes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from node.errors import UpdateRejected
from node.learning.fixedpoint import FixedParams

CODEC = "fxp32-q16"
MODEL_MAGIC = b"FCM1"
UPDATE_MAGIC = b"FCU1"
MAX_HEADER = 64 * 1024
MAX_LOCAL_STEPS = 10**9
_LEN = struct.Struct("<I")


@dataclass(frozen=True)
class UpdateHeader:
    """What an update binds: where it belongs and who made it from what."""

    deployment: str  # "<chain id>:<coordinator address>"
    round: int
    author: str  # checksummed address
    base_cid: str
    num_examples: int
    codec: str = CODEC
    # FedNova: the local SGD steps the author took (0: not given, as in every update of a
    # deployment that does not run FedNova; such headers encode exactly as before it existed)
    local_steps: int = 0


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _encode(magic: bytes, header: dict[str, Any], params: Mapping[str, np.ndarray]) -> bytes:
    names = sorted(params)
    header = {**header, "tensors": [[n, list(params[n].shape)] for n in names]}
    head = _canonical_json(header)
    body = b"".join(np.ascontiguousarray(params[n], dtype="<i4").tobytes() for n in names)
    return magic + _LEN.pack(len(head)) + head + body


def _decode(magic: bytes, blob: bytes) -> tuple[dict[str, Any], FixedParams]:
    if len(blob) < 8 or blob[:4] != magic:
        raise UpdateRejected("malformed", f"bad magic, expected {magic!r}")
    (head_len,) = _LEN.unpack_from(blob, 4)
    if head_len > MAX_HEADER or 8 + head_len > len(blob):
        raise UpdateRejected("malformed", f"header length {head_len} out of bounds")
    try:
        header = json.loads(blob[8 : 8 + head_len])
        tensors = [(str(name), tuple(int(d) for d in shape)) for name, shape in header["tensors"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise UpdateRejected("malformed", f"unreadable header ({exc})") from None
    if header.get("codec") != CODEC:
        raise UpdateRejected("malformed", f"unknown codec {header.get('codec')!r}")
    params: FixedParams = {}
    offset = 8 + head_len
    for name, shape in tensors:
        if any(d < 0 for d in shape):
            raise UpdateRejected("malformed", f"negative dimension in {name}")
        count = int(np.prod(shape, dtype=np.int64))
        end = offset + 4 * count
        if end > len(blob):
            raise UpdateRejected("malformed", f"payload too short for tensor {name}")
        params[name] = np.frombuffer(blob, dtype="<i4", count=count, offset=offset).reshape(shape)
        offset = end
    if offset != len(blob):
        raise UpdateRejected("malformed", f"{len(blob) - offset} trailing bytes")
    return header, params


def encode_model(params: Mapping[str, np.ndarray]) -> bytes:
    return _encode(MODEL_MAGIC, {"codec": CODEC}, params)


def decode_model(blob: bytes) -> FixedParams:
    return _decode(MODEL_MAGIC, blob)[1]


def encode_update(header: UpdateHeader, delta: Mapping[str, np.ndarray]) -> bytes:
    fields = asdict(header)
    if not fields["local_steps"]:
        del fields["local_steps"]  # the pre-FedNova header, byte for byte
    return _encode(UPDATE_MAGIC, fields, delta)


def _local_steps(raw: dict[str, Any]) -> int:
    steps = raw.get("local_steps", 0)
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise UpdateRejected("malformed", f"local_steps must be an integer, got {steps!r}")
    if not 0 <= steps <= MAX_LOCAL_STEPS:
        raise UpdateRejected("malformed", f"local_steps {steps} out of range 0..{MAX_LOCAL_STEPS}")
    return steps


def decode_update(blob: bytes) -> tuple[UpdateHeader, FixedParams]:
    raw, delta = _decode(UPDATE_MAGIC, blob)
    try:
        header = UpdateHeader(
            deployment=str(raw["deployment"]),
            round=int(raw["round"]),
            author=str(raw["author"]),
            base_cid=str(raw["base_cid"]),
            num_examples=int(raw["num_examples"]),
            codec=str(raw["codec"]),
            local_steps=_local_steps(raw),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UpdateRejected("malformed", f"incomplete update header ({exc})") from None
    return header, delta
