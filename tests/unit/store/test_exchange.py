"""The Bitswap-facing store adapter: what py-libp2p's client may write to our disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import trio
import trio.testing

from node.store import bitswap as _bitswap
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


def test_a_block_landing_just_after_its_attempt_gave_up_is_kept(tmp_path: Path) -> None:
    """A fetch attempt that timed out leaves its blocks welcome for LATE_GRACE seconds
    (hash-checked as ever), so the next attempt finds a block that arrived a moment late;
    after the grace, and for blocks nobody wanted, the door is shut again."""
    metrics: Counter[str] = Counter()
    adapter = _BitswapStore(BlockStore(tmp_path), metrics)
    late, forged, stale = b"late block", b"forged", b"stale block"
    late_cid, forged_cid, stale_cid = (make_cid(CODEC_RAW, b) for b in (late, forged, stale))

    async def scenario() -> None:
        adapter.want([late_cid, forged_cid, stale_cid])
        adapter.unwant([late_cid, forged_cid, stale_cid])  # the attempt timed out
        assert not adapter.wanted
        await adapter.put_block(late_cid, late)
        assert await adapter.get_block(late_cid) == late
        await adapter.put_block(forged_cid, b"not it")  # still hash-checked
        assert not await adapter.has_block(forged_cid)
        await adapter.put_block(forged_cid, forged)  # a forgery does not shut the door
        assert await adapter.get_block(forged_cid) == forged
        await trio.sleep(_bitswap.LATE_GRACE + 1)  # autojump clock
        await adapter.put_block(stale_cid, stale)
        assert not await adapter.has_block(stale_cid)

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    assert metrics["bitswap.late_block"] == 3
    assert metrics["bitswap.rejected.block_mismatch"] == 1
    assert metrics["bitswap.rejected.unsolicited_block"] == 1
