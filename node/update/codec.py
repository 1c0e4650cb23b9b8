"""Byte formats for models and updates.

Both are ``MAGIC | u32 header length | canonical JSON header | body``. A model's body, and
an update's under the default codec ``fxp32-q16``, is the int32 LE tensors in header order;
an update under a compressed codec ``topk-int8-p<P>`` (the deployment's choice) carries
the body of ``node.update.sparse``. The same parameters always encode to the same bytes,
so a model's CID identifies it across nodes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from node.errors import UpdateRejected
from node.update import sparse
from node.update.fixedpoint import FixedParams
from node.update.names import CODEC, codec_problem

__all__ = [
    "CODEC",
    "UpdateHeader",
    "codec_problem",
    "decode_model",
    "decode_update",
    "encode_model",
    "encode_update",
]
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


def _encode(
    magic: bytes, header: dict[str, Any], params: Mapping[str, np.ndarray], codec: str = CODEC
) -> bytes:
    names = sorted(params)
    header = {**header, "tensors": [[n, list(params[n].shape)] for n in names]}
    head = _canonical_json(header)
    permille = sparse.permille_of(codec)
    if permille is None:
        body = b"".join(np.ascontiguousarray(params[n], dtype="<i4").tobytes() for n in names)
    else:
        body = b"".join(sparse.encode_tensor(params[n], permille) for n in names)
    return magic + _LEN.pack(len(head)) + head + body


def _decode(
    magic: bytes,
    blob: bytes,
    codec: str = CODEC,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    check_head: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], FixedParams]:
    """Header and tensors of a blob whose header must name ``codec``; ``check_head`` sees
    the header next, and with ``shapes`` the header's tensors must be exactly those, all
    before any of the body is read."""
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
    if len({name for name, _ in tensors}) != len(tensors):
        raise UpdateRejected("malformed", "a tensor name appears twice in the header")
    named = header.get("codec")
    if named != codec:
        if isinstance(named, str) and codec_problem(named) is None:
            raise UpdateRejected("wrong_codec", f"update codec {named}, deployment's {codec}")
        raise UpdateRejected("malformed", f"unknown codec {named!r}")
    if check_head is not None:
        check_head(header)
    if shapes is not None and dict(tensors) != {n: tuple(s) for n, s in shapes.items()}:
        raise UpdateRejected("bad_shape", "tensor names or shapes differ from the model's")
    params: FixedParams = {}
    offset = 8 + head_len
    permille = sparse.permille_of(codec)
    for name, shape in tensors:
        if any(d < 0 for d in shape):
            raise UpdateRejected("malformed", f"negative dimension in {name}")
        if permille is not None:
            params[name], offset = sparse.decode_tensor(blob, offset, name, shape, permille)
            continue
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
    """The update blob under ``header.codec``. A compressed codec encodes exactly the
    deltas ``node.update.sparse.compress`` returns (ValueError for others)."""
    problem = codec_problem(header.codec)
    if problem:
        raise ValueError(problem)
    fields = asdict(header)
    if not fields["local_steps"]:
        del fields["local_steps"]  # the pre-FedNova header, byte for byte
    return _encode(UPDATE_MAGIC, fields, delta, header.codec)


def _local_steps(raw: dict[str, Any]) -> int:
    steps = raw.get("local_steps", 0)
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise UpdateRejected("malformed", f"local_steps must be an integer, got {steps!r}")
    if not 0 <= steps <= MAX_LOCAL_STEPS:
        raise UpdateRejected("malformed", f"local_steps {steps} out of range 0..{MAX_LOCAL_STEPS}")
    return steps


def decode_update(
    blob: bytes,
    codec: str = CODEC,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    check_header: Callable[[UpdateHeader], None] | None = None,
) -> tuple[UpdateHeader, FixedParams]:
    """Header and exact delta of an update blob whose header names ``codec`` (else
    ``wrong_codec``; ``malformed`` for a codec nobody knows); ``check_header`` runs on the
    header before its tensors are compared with ``shapes`` (see ``_decode``), so a header
    for the wrong round or base is refused as that, whatever tensors it lists."""

    def check_head(raw: dict[str, Any]) -> None:
        if check_header is not None:
            check_header(_header_of(raw))

    raw, delta = _decode(UPDATE_MAGIC, blob, codec, shapes, check_head)
    return _header_of(raw), delta


def _header_of(raw: dict[str, Any]) -> UpdateHeader:
    try:
        return UpdateHeader(
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
