"""The ``push`` message (node/p2p/messages.py): a small update inline, strictly decoded,
its CID recomputed; each hostile variant is refused with its reason."""

from __future__ import annotations

import cbor2
import pytest

from node.p2p.messages import (
    MAX_INLINE_BLOB,
    MAX_PUSH_MESSAGE,
    Announcement,
    MessageRejected,
    Push,
    decode,
    encode,
)
from node.store.cid import compute_cid

AUTHOR = "0x" + "ab" * 20
BLOB = b"update bytes " * 100


def body(**changes: object) -> dict[str, object]:
    out: dict[str, object] = {
        "v": 1,
        "kind": "push",
        "round": 3,
        "author": AUTHOR,
        "cid": compute_cid(BLOB),
        "blob": BLOB,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def reason_of(data: bytes) -> str:
    with pytest.raises(MessageRejected) as info:
        decode(data)
    return info.value.reason


def test_a_push_round_trips_and_a_big_one_fits_the_message_limit() -> None:
    msg = Push(round=3, author=AUTHOR, cid=compute_cid(BLOB), blob=BLOB)
    assert decode(encode(msg)) == msg
    big = bytes(range(256)) * (MAX_INLINE_BLOB // 256)  # several blocks: a dag-pb root
    data = encode(Push(round=1, author=AUTHOR, cid=compute_cid(big), blob=big))
    assert len(data) <= MAX_PUSH_MESSAGE
    ann = Announcement(round=3, author=AUTHOR, cid=compute_cid(BLOB), providers=())
    assert decode(encode(ann)) == ann  # announcements unchanged


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"cid": compute_cid(b"other bytes")}, "cid_mismatch"),
        ({"blob": b"x" * (MAX_INLINE_BLOB + 1)}, "oversize"),
        ({"blob": "text, not bytes"}, "bad_schema"),
        ({"blob": None}, "bad_schema"),  # missing
        ({"providers": []}, "bad_schema"),  # an announcement's field too
        ({"kind": "pull"}, "unknown_kind"),
        ({"round": 0}, "bad_schema"),
        ({"author": "0x12"}, "bad_schema"),
    ],
)
def test_hostile_pushes_are_refused_with_their_reason(
    changes: dict[str, object], reason: str
) -> None:
    assert reason_of(cbor2.dumps(body(**changes), canonical=True)) == reason


def test_a_non_canonical_push_is_refused() -> None:
    items = sorted(body().items(), reverse=True)  # keys out of canonical order
    data = b"\xa6" + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in items)
    assert reason_of(data) == "non_canonical"
