"""Per-RPC costs py-libp2p 0.8.1's pubsub pays again and again, paid once.

Every pubsub RPC carries the sender's signed peer record. py-libp2p builds the one it sends
by re-deriving the host's advertised addresses (``BasicHost.get_addrs``) for each RPC, and
checks the one it receives (an Ed25519 verification and a peer-store rewrite) for each
RPC, although a peer sends the same record bytes until its addresses change. Profiled on
12 nodes relaying 40 announcements, those two were ~8 % of all CPU. Here:

* the record we send is re-derived at most every ``LOCAL_RECORD_TTL`` seconds;
* a received record is checked in full once; the same bytes from the same peer again are
  accepted without re-verifying (any other bytes are checked in full, as before).

``install()`` swaps the two functions where pubsub and gossipsub look them up; it is
idempotent and changes nothing else.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import libp2p.pubsub.gossipsub as gossipsub_module
import libp2p.pubsub.pubsub as pubsub_module
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.pb.rpc_pb2 import RPC

LOCAL_RECORD_TTL = 10.0  # seconds a built sender record is reused
MAX_REMEMBERED_PEERS = 4096  # received records remembered (oldest forgotten first)

_original_consume = pubsub_module.maybe_consume_signed_record
_original_local = pubsub_module.env_to_send_in_RPC


class _LocalRecords:
    """The sender record each host sends, rebuilt at most every ``LOCAL_RECORD_TTL``."""

    def __init__(self, build: Callable[[IHost], tuple[bytes, bool]]) -> None:
        self._build = build
        self._cache: dict[int, tuple[float, bytes]] = {}

    def __call__(self, host: IHost) -> tuple[bytes, bool]:
        now = time.monotonic()
        hit = self._cache.get(id(host))
        if hit is not None and now - hit[0] < LOCAL_RECORD_TTL:
            return hit[1], False
        envelope, created = self._build(host)
        self._cache[id(host)] = (now, envelope)
        return envelope, created


class _PeerRecords:
    """Checks a received sender record unless the peer sent exactly these bytes before."""

    def __init__(self, check: Callable[[RPC, IHost, ID], bool]) -> None:
        self._check = check
        self._accepted: OrderedDict[tuple[int, ID], bytes] = OrderedDict()

    def __call__(self, msg: RPC, host: IHost, peer_id: ID) -> bool:
        if not msg.HasField("senderRecord"):
            return True
        key = (id(host), peer_id)
        record = msg.senderRecord
        if self._accepted.get(key) == record:
            return True
        ok = self._check(msg, host, peer_id)
        if ok:
            self._accepted[key] = record
            self._accepted.move_to_end(key)
            while len(self._accepted) > MAX_REMEMBERED_PEERS:
                self._accepted.popitem(last=False)
        return ok


def install() -> None:
    """Use the caching versions in py-libp2p's pubsub and gossipsub modules."""
    if isinstance(pubsub_module.env_to_send_in_RPC, _LocalRecords):
        return
    local: Any = _LocalRecords(_original_local)
    peers: Any = _PeerRecords(_original_consume)
    for module in (pubsub_module, gossipsub_module):
        module.env_to_send_in_RPC = local  # type: ignore[attr-defined]
        module.maybe_consume_signed_record = peers  # type: ignore[attr-defined]
