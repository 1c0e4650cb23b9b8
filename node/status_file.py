"""The node's status document: served on /status and written to <data_dir>/status.json."""

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


def write_status(ctx: NodeContext, phase: str) -> None:
    ctx.phase = phase
    path = ctx.cfg.data_dir / "status.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status_document(ctx, phase), indent=1, sort_keys=True))
    tmp.replace(path)
