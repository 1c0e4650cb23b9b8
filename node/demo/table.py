"""The demo's live table: one row per round from the chain and the nodes' status files."""

from __future__ import annotations

import time

from rich.table import Table

from node.chain.client import ChainClient
from node.demo.options import DemoOptions
from node.demo.processes import NodeProcess

TOKEN = 10**18


def progress_table(
    opts: DemoOptions,
    chain: ChainClient,
    nodes: list[NodeProcess],
    started: float,
    explorer_url: str = "",
) -> Table:
    table = Table(
        title=f"fedchain demo: {opts.nodes} nodes, {opts.rounds} rounds "
        f"({time.monotonic() - started:.0f}s)"
    )
    for column in (
        "round",
        "status",
        "committed",
        "verified",
        "finalized model CID",
        "accuracy",
        "rewards (FED)",
    ):
        table.add_column(column)
    statuses = [n.status() for n in nodes]
    current = chain.current_round()
    for r in range(1, max(current, 1) + 1):
        info = chain.round_info(r)
        records = [x for s in statuses for x in s.get("records", []) if x["round"] == r]
        accuracy = next((x["accuracy"] for x in records if x.get("accuracy") is not None), None)
        cid = next((x["finalized_cid"] for x in records if x.get("finalized_cid")), None)
        verified = sorted({int(x["verified"]) for x in records})
        table.add_row(
            str(r),
            info.status.name.lower(),
            f"{info.commit_count}/{info.eligible_count}",
            "/".join(map(str, verified)) if verified else "-",
            (cid[:10] + "…" + cid[-4:]) if cid else "-",
            f"{accuracy:.3f}" if accuracy is not None else "-",
            f"{sum(int(x['reward']) for x in records) / TOKEN:.0f}" if records else "-",
        )
    phases = ", ".join(
        f"n{n.index}:{s.get('phase', 'starting')}" for n, s in zip(nodes, statuses, strict=True)
    )
    table.caption = phases + (f"\nexplorer: {explorer_url}" if explorer_url else "")
    return table
