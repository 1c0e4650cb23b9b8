"""Versioned, schema-checked gossip messages in canonical CBOR.

Every message is a CBOR map with ``"v"`` (the schema version) and ``"kind"``. Decoding
is strict: the bytes must be exactly the canonical encoding of a well-formed message
(so one message has one encoding and duplicates are recognised by their bytes), every
field present with its type and bounds, no extra field. Problems raise
``MessageRejected`` whose ``reason`` is a short metric label.

Kinds (version 1):

``announce``: "I hold the update blob ``cid`` of ``author`` for round ``round``";
providers lists peer ids that can serve it (at most ``MAX_PROVIDERS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cbor2

from node.errors import ContentError
from node.store.cid import parse_cid_str

VERSION = 1
MAX_PROVIDERS = 16
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


def encode(msg: Announcement) -> bytes:
    body: dict[str, Any] = {
        "v": VERSION,
        "kind": msg.kind,
        "round": msg.round,
        "author": msg.author,
        "cid": msg.cid,
        "providers": list(msg.providers),
    }
    data = cbor2.dumps(body, canonical=True)
    decode(data)  # never send what peers would reject
    return data


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MessageRejected("bad_schema", f"field {name!r} missing or not {kind.__name__}")
    return value


def decode(data: bytes) -> Announcement:
    try:
        body = cbor2.loads(data)
    except Exception as exc:  # noqa: BLE001 - cbor2 raises several types
        raise MessageRejected("not_cbor", type(exc).__name__) from None
    if not isinstance(body, dict):
        raise MessageRejected("bad_schema", "not a map")
    if body.get("v") != VERSION:
        raise MessageRejected("bad_version", repr(body.get("v"))[:20])
    if body.get("kind") != Announcement.kind:
        raise MessageRejected("unknown_kind", repr(body.get("kind"))[:40])
    if set(body) != {"v", "kind", "round", "author", "cid", "providers"}:
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
    providers = _field(body, "providers", list)
    if len(providers) > MAX_PROVIDERS or not all(
        isinstance(p, str) and _PEER_ID.fullmatch(p) for p in providers
    ):
        raise MessageRejected("bad_schema", "bad providers list")
    msg = Announcement(round=rnd, author=author, cid=cid, providers=tuple(providers))
    if cbor2.dumps(body, canonical=True) != data:
        raise MessageRejected("non_canonical")
    return msg
