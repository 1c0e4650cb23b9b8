"""The caches in node/p2p/rpc_costs.py: a peer's sender record is checked in full once per
distinct bytes, a failed check is never cached, and our own record is rebuilt after its TTL.
The wrapped py-libp2p functions are stood in for by counting functions so the test can see
how often the expensive path runs; the real ones run in every p2p integration test."""

from __future__ import annotations

from typing import Any

import libp2p.pubsub.gossipsub as gossipsub_module
import libp2p.pubsub.pubsub as pubsub_module
import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.pb.rpc_pb2 import RPC

from node.p2p import rpc_costs

PEER_A = ID(b"\x00\x01a")
PEER_B = ID(b"\x00\x01b")


def rpc(record: bytes | None) -> RPC:
    msg = RPC()
    if record is not None:
        msg.senderRecord = record
    return msg


def test_a_record_is_verified_once_per_peer_and_bytes() -> None:
    calls: list[bytes] = []

    def check(msg: RPC, host: Any, peer: ID) -> bool:
        calls.append(msg.senderRecord)
        return msg.senderRecord != b"forged"

    records = rpc_costs._PeerRecords(check)
    host = object()
    assert records(rpc(b"r1"), host, PEER_A)  # type: ignore[arg-type]
    assert records(rpc(b"r1"), host, PEER_A)  # type: ignore[arg-type]
    assert calls == [b"r1"]
    assert records(rpc(b"r1"), host, PEER_B)  # type: ignore[arg-type] # other peer: checked
    assert records(rpc(b"r2"), host, PEER_A)  # type: ignore[arg-type] # new bytes: checked
    assert calls == [b"r1", b"r1", b"r2"]
    # a record that fails is refused every time, never remembered as good
    assert not records(rpc(b"forged"), host, PEER_A)  # type: ignore[arg-type]
    assert not records(rpc(b"forged"), host, PEER_A)  # type: ignore[arg-type]
    assert calls.count(b"forged") == 2
    assert records(rpc(None), host, PEER_A)  # type: ignore[arg-type] # no record: nothing to do
    assert len(calls) == 5


def test_our_record_is_rebuilt_after_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(rpc_costs.time, "monotonic", lambda: now[0])
    built: list[int] = []

    def build(host: Any) -> tuple[bytes, bool]:
        built.append(1)
        return b"env%d" % len(built), True

    local = rpc_costs._LocalRecords(build)
    host = object()
    assert local(host) == (b"env1", True)  # type: ignore[arg-type]
    now[0] += rpc_costs.LOCAL_RECORD_TTL / 2
    assert local(host) == (b"env1", False)  # type: ignore[arg-type]
    now[0] += rpc_costs.LOCAL_RECORD_TTL
    assert local(host) == (b"env2", True)  # type: ignore[arg-type]


def test_install_swaps_both_modules_once() -> None:
    rpc_costs.install()
    first = pubsub_module.env_to_send_in_RPC
    rpc_costs.install()
    assert pubsub_module.env_to_send_in_RPC is first
    assert gossipsub_module.env_to_send_in_RPC is first
    assert isinstance(gossipsub_module.maybe_consume_signed_record, rpc_costs._PeerRecords)
