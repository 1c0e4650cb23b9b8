"""`fedchain node status`: read a running node's /status endpoint and show it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from node.errors import FedchainError
from node.status_server import status_url


def fetch_status(data_dir: Path) -> dict[str, Any]:
    url = status_url(data_dir)
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FedchainError(f"node in {data_dir} does not answer at {url}: {exc}") from None


def print_status(status: dict[str, Any], console: Console, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(status))
        return
    console.print(
        f"node {status['address']} (peer {status['peer_id']}), pid {status['pid']}: "
        f"{status['phase']}; {status['connected_peers']} peers connected"
    )
    table = Table(title="rounds")
    for column in ("round", "status", "committed", "verified", "model CID", "accuracy", "FED"):
        table.add_column(column)
    for r in status["records"][-10:]:
        cid = r.get("finalized_cid") or "-"
        accuracy = r.get("accuracy")
        table.add_row(
            str(r["round"]),
            r["status"],
            "yes" if r["committed"] else "no",
            str(r["verified"]),
            cid[:16] + "…" if len(cid) > 16 else cid,
            f"{accuracy:.3f}" if accuracy is not None else "-",
            f"{int(r['reward']) / 10**18:.2f}",
        )
    console.print(table)
