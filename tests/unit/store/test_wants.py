"""Which peers a Bitswap want-list goes to (``node.store.wants``): the providers of the
fetches that want the CID, everyone only while a fetch listing nobody wants it."""

from __future__ import annotations

from typing import cast

from libp2p.abc import IHost
from libp2p.peer.id import ID

from node.store.cid import CODEC_RAW, make_cid
from node.store.wants import ScopedWants


def test_wants_go_to_the_connected_providers_of_the_fetches_that_want_the_cid() -> None:
    wants = ScopedWants(cast(IHost, None))  # the host is only used to send
    author, provider, bystander, offline = (ID(bytes([i]) * 34) for i in range(4))
    connected = {author, provider, bystander}
    cid, other = make_cid(CODEC_RAW, b"update"), make_cid(CODEC_RAW, b"other")
    assert wants.want_targets(cid, connected) is None  # wanted by no fetch: py-libp2p's
    with wants.scoped([cid], [author, offline]):
        assert wants.want_targets(cid, connected) == {author}
        assert wants.want_targets(other, connected) is None
        with wants.scoped([cid], [provider, author]):
            assert wants.want_targets(cid, connected) == {author, provider}
        assert wants.want_targets(cid, connected) == {author}
        with wants.scoped([cid], []):  # a fetch listing nobody asks everyone meanwhile
            assert wants.want_targets(cid, connected) is None
        assert wants.want_targets(cid, connected) == {author}
    assert wants.want_targets(cid, connected) is None
    assert not wants._scopes
