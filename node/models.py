"""Models by CID: loaded from the local store or peers, stored for peers to fetch."""

from __future__ import annotations

from collections.abc import Sequence

from node.context import NodeContext
from node.update.codec import decode_model, encode_model
from node.update.fixedpoint import FixedParams


async def load_model(ctx: NodeContext, cid: str, holders: Sequence[str] = ()) -> FixedParams:
    """A model by CID: from the local blockstore, else from ``holders`` (peer ids asked
    first) and any peer."""
    others = sorted(ctx.providers.get(cid, set()) | ctx.net.connected_peers())
    peers = [*holders, *(p for p in others if p not in holders)]
    blob = await ctx.blobs.get(cid, peers, ctx.cfg.fetch_timeout, what="model blob")
    return decode_model(blob)


async def store_model(ctx: NodeContext, params: FixedParams) -> str:
    """Store (and pin) a model; its CID."""
    return await ctx.blobs.put(encode_model(params))
