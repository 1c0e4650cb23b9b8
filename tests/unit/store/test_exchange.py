"""The Bitswap-facing store adapter: what py-libp2p's client may write to our disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import trio

from node.store.bitswap import BitswapStore as _BitswapStore
from node.store.blockstore import BlockStore
from node.store.cid import CODEC_RAW, make_cid


def test_adapter_accepts_only_wanted_blocks_that_match(tmp_path: Path) -> None:
    metrics: Counter[str] = Counter()
    store = BlockStore(tmp_path)
    adapter = _BitswapStore(store, metrics)
    block = b"wanted"
    cid = make_cid(CODEC_RAW, block)

    async def scenario() -> None:
        await adapter.put_block(cid, block)  # nobody asked for it
        assert not await adapter.has_block(cid)
        adapter.wanted[cid] += 1
        await adapter.put_block(cid, b"not the block")  # wanted, but wrong bytes
        assert not await adapter.has_block(cid)
        await adapter.put_block(cid, block)
        assert await adapter.get_block(cid) == block

    trio.run(scenario)
    assert metrics["bitswap.rejected.unsolicited_block"] == 1
    assert metrics["bitswap.rejected.block_mismatch"] == 1
