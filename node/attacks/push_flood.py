"""Hostile pushes for the announcement topic (``bench/hostile.py --mode push-flood``).

A push (``node/p2p/messages.py``) carries an author's update blob inline. These craft the
pushes a hostile peer floods the topic with, each a different way to be refused:

* ``oversize``: a blob over ``MAX_INLINE_BLOB`` (the message is over the topic's size limit);
* ``wrong_hash``: a blob that does not hash to the message's CID (``cid_mismatch``);
* ``not_author``: an honest author's name on a blob the hostile peer signs (``not_author``);
* ``stale_round``: a push for a round long over, as a replay of an old push would be
  (``round_out_of_window``; ``round_past``, uncharged, where the policy tells past rounds
  apart); before round 3 one far ahead instead (``round_out_of_window``);
* ``over_limit``: one more well-formed push of the peer's own, past the per-signer limit a
  round (``push_limit``).

Messages are encoded canonically but never decoded first (``messages.encode`` refuses to
send what peers reject). Pure functions: the caller owns the randomness and the network.
"""

from __future__ import annotations

import random
from typing import Any

import cbor2

from node.p2p.messages import MAX_INLINE_BLOB, VERSION, Push
from node.store.cid import compute_cid

KINDS = ("oversize", "wrong_hash", "not_author", "stale_round", "over_limit")
BLOB_BYTES = 32 * 1024  # about a digits-mlp update
OVERSIZE_BYTES = MAX_INLINE_BLOB + 64 * 1024  # over the limit, under py-libp2p's 1 MiB frame


def push_bytes(r: int, author: str, cid: str, blob: bytes) -> bytes:
    """A push message as ``messages.encode`` lays it out, with no check of its content."""
    body: dict[str, Any] = {
        "v": VERSION,
        "kind": Push.kind,
        "round": r,
        "author": author,
        "cid": cid,
        "blob": blob,
    }
    return cbor2.dumps(body, canonical=True)


def stale_round(r: int) -> int:
    """A round outside the receivers' window around ``r``: two back, else three ahead."""
    return r - 2 if r >= 3 else r + 3


def craft(kind: str, r: int, own: str, victims: list[str], rng: random.Random) -> bytes:
    """One hostile push of ``kind`` for current round ``r``, signed later by the peer whose
    account is ``own``; ``victims`` are honest authors' addresses."""
    if kind not in KINDS:
        raise ValueError(f"unknown push-flood kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "not_author" and not victims:
        raise ValueError("a not_author push needs at least one honest author address")
    size = OVERSIZE_BYTES if kind == "oversize" else BLOB_BYTES
    blob = rng.randbytes(size)
    cid = compute_cid(rng.randbytes(64) if kind == "wrong_hash" else blob)
    author = rng.choice(victims) if kind == "not_author" else own
    rnd = stale_round(r) if kind == "stale_round" else r
    return push_bytes(rnd, author, cid, blob)
