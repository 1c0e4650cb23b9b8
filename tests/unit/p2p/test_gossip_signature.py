"""A gossip message's signature is verified once: py-libp2p's push_msg skips the check
only for the very message our push_msg just verified; any other still gets it."""

from __future__ import annotations

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import signature_validator
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX

from node.p2p import gossip, gossip_router


def signed(data: bytes, forge: bool = False) -> rpc_pb2.Message:
    keys = create_new_key_pair()
    msg = rpc_pb2.Message(
        from_id=ID.from_pubkey(keys.public_key).to_bytes(),
        data=data,
        seqno=b"\x00" * 8,
        topicIDs=["t"],
    )
    signing = PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString()
    msg.signature = keys.private_key.sign(signing)
    msg.key = keys.public_key.serialize()
    if forge:
        msg.data = b"something else"
    return msg


def test_only_the_message_just_verified_skips_the_second_check() -> None:
    good, forged = signed(b"hello"), signed(b"hello", forge=True)
    assert signature_validator(good) and not signature_validator(forged)
    gossip_router._verified[0] = forged  # as if push_msg had just verified it
    assert gossip_router.signature_verified_once(forged) is True
    assert gossip_router._verified[0] is None  # once only
    assert gossip_router.signature_verified_once(forged) is False  # verified for real again
    gossip_router._verified[0] = good
    assert gossip_router.signature_verified_once(signed(b"hello", forge=True)) is False
    assert gossip_router.signature_verified_once(good) is True
    gossip_router._verified[0] = None


def test_gossip_installs_it_where_py_libp2p_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubsub_module, "signature_validator", signature_validator)
    monkeypatch.setattr(gossip, "CheckedGossipSub", lambda *a, **k: None)
    monkeypatch.setattr(gossip, "CheckedPubsub", lambda *a, **k: None)
    gossip.Gossip(host=None, metrics=None)  # type: ignore[arg-type]
    assert pubsub_module.signature_validator is gossip_router.signature_verified_once
