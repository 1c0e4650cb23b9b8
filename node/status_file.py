"""The node's status document: served on /status and written to <data_dir>/status.json.

Written at once when a round record is new, else at most once a second
(node/status_pace.py), with the C JSON encoder (compact): at 32 nodes the indented
document, rewritten on every phase change, was a visible share of an observer's CPU.
"""

from __future__ import annotations

import json
import os
from typing import Any

from node.context import NodeContext


def status_document(ctx: NodeContext, phase: str) -> dict[str, Any]:
    outage = ctx.link.describe()  # "chain unreachable since ..." during an RPC outage
    return {
        "address": ctx.address,
        "peer_id": ctx.net.peer_id,
        "listen_addrs": ctx.net.listen_addrs(),
        "connected_peers": len(ctx.net.connected_peers()),
        "pid": os.getpid(),
        "phase": f"{phase} ({outage})" if outage else phase,
        "chain": outage or "reachable",
        "chain_watch": ctx.watch.mode if ctx.watch is not None else "off",
        "records": ctx.state.records(),
        "metrics": ctx.metrics.as_dict(),
        "p2p": dict(ctx.net.metrics),
        "peer_scores": ctx.net.peer_scores(),
        "push_cache_bytes": ctx.pushed.held_bytes,  # bounded by its max_bytes
    }


def write_status(ctx: NodeContext, phase: str, *, at_once: bool = False) -> None:
    """Set the phase and write the document now, or within ``MIN_INTERVAL_S`` when the
    last write was more recent and no new record came since (``flush_status``)."""
    ctx.phase = phase
    if at_once or ctx.status_pace.at_once(ctx.state.records_version):
        _write(ctx)


async def flush_status(ctx: NodeContext) -> None:
    """Write the deferred phase changes (a task of the daemon's nursery); while it does
    not run, every ``write_status`` writes at once."""
    pace = ctx.status_pace
    pace.flushing = True
    try:
        while True:
            await pace.next_due()
            if pace.pending:
                _write(ctx)
    finally:
        pace.flushing = False


def _write(ctx: NodeContext) -> None:
    version = ctx.state.records_version
    path = ctx.cfg.data_dir / "status.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(status_document(ctx, ctx.phase), sort_keys=True, separators=(",", ":"))
    )
    tmp.replace(path)
    ctx.status_pace.wrote(version)
