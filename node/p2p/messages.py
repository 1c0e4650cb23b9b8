"""Versioned, schema-checked gossip messages in canonical CBOR.

Every message is a CBOR map with ``"v"`` (the schema version) and ``"kind"``. Decoding
is strict: the bytes must be exactly the canonical encoding of a well-formed message
(so one message has one encoding and duplicates are recognised by their bytes), every
field present with its type and bounds, no extra field. Problems raise
``MessageRejected`` whose ``reason`` is a short metric label.

Kinds (version 1):

``announce``: "I hold the update blob ``cid`` of ``author`` for round ``round``";
providers lists peer ids that can serve it (at most ``MAX_PROVIDERS``).

``push``: the author's own update ``blob`` (at most ``MAX_INLINE_BLOB`` bytes) with its
``cid``, so the round's members need not fetch it (``node/store/pushed.py``). Decoding
recomputes the CID: a blob that does not hash to ``cid`` is ``cid_mismatch``. That the
signer is ``author``'s registered peer is checked by the receiver (``node/announcements.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import cbor2

from node.errors import ContentError
from node.store.cid import compute_cid, parse_cid_str

VERSION = 1
MAX_PROVIDERS = 16
# Well under py-libp2p's 1 MiB limit on one pubsub RPC frame (over it, the RPC is dropped)
MAX_INLINE_BLOB = 512 * 1024
MAX_PUSH_MESSAGE = MAX_INLINE_BLOB + 1024  # the blob, the CBOR map and its other fields
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_PEER_ID = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,64}")


class MessageRejected(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Announcement:
    round: int
    author: str
    cid: str
    providers: tuple[str, ...] = ()

    kind = "announce"


@dataclass(frozen=True)
class Push:
    round: int
    author: str
    cid: str
    blob: bytes = field(repr=False)

    kind = "push"


Message = Announcement | Push
_FIELDS = {
    Announcement.kind: {"v", "kind", "round", "author", "cid", "providers"},
    Push.kind: {"v", "kind", "round", "author", "cid", "blob"},
}


def encode(msg: Message) -> bytes:
    body: dict[str, Any] = {
        "v": VERSION,
        "kind": msg.kind,
        "round": msg.round,
        "author": msg.author,
        "cid": msg.cid,
    }
    if isinstance(msg, Push):
        body["blob"] = msg.blob
    else:
        body["providers"] = list(msg.providers)
    data = cbor2.dumps(body, canonical=True)
    decode(data)  # never send what peers would reject
    return data


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MessageRejected("bad_schema", f"field {name!r} missing or not {kind.__name__}")
    return value


def decode(data: bytes) -> Message:
    try:
        body = cbor2.loads(data)
    except Exception as exc:  # noqa: BLE001 - cbor2 raises several types
        raise MessageRejected("not_cbor", type(exc).__name__) from None
    if not isinstance(body, dict):
        raise MessageRejected("bad_schema", "not a map")
    if body.get("v") != VERSION:
        raise MessageRejected("bad_version", repr(body.get("v"))[:20])
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise MessageRejected("unknown_kind", repr(kind)[:40])
    if set(body) != _FIELDS[kind]:
        raise MessageRejected("bad_schema", "unexpected or missing fields")
    rnd = _field(body, "round", int)
    if not 1 <= rnd < 2**64:
        raise MessageRejected("bad_schema", "round out of range")
    author = _field(body, "author", str)
    if not _ADDRESS.fullmatch(author):
        raise MessageRejected("bad_schema", "author is not an address")
    cid = _field(body, "cid", str)
    try:
        parse_cid_str(cid)
    except ContentError:
        raise MessageRejected("bad_schema", "cid is not a canonical CIDv1") from None
    msg: Message
    if kind == Push.kind:
        msg = Push(round=rnd, author=author, cid=cid, blob=_blob(body))
    else:
        providers = _field(body, "providers", list)
        if len(providers) > MAX_PROVIDERS or not all(
            isinstance(p, str) and _PEER_ID.fullmatch(p) for p in providers
        ):
            raise MessageRejected("bad_schema", "bad providers list")
        msg = Announcement(round=rnd, author=author, cid=cid, providers=tuple(providers))
    if cbor2.dumps(body, canonical=True) != data:
        raise MessageRejected("non_canonical")
    if isinstance(msg, Push) and compute_cid(msg.blob) != cid:  # last: the costliest check
        raise MessageRejected("cid_mismatch", f"inline blob does not hash to {cid}")
    return msg


def _blob(body: dict[str, Any]) -> bytes:
    blob = _field(body, "blob", bytes)
    if len(blob) > MAX_INLINE_BLOB:
        raise MessageRejected("oversize", f"inline blob of {len(blob)} bytes")
    return bytes(blob)
