"""`fedchain explorer`: the round explorer, a read-only web app on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.cli.app import DEFAULT_DEPLOYMENT, DeploymentFile, app, console, expected_errors
from node.cli.keyopts import RpcUrl

EXAMPLES = """Examples:

  fedchain explorer                                  # the devnet's deployment, port 8600

  fedchain explorer --node http://127.0.0.1:9101/status --node http://127.0.0.1:9102/status

  fedchain explorer --deployment prod.json --rpc-url https://rpc.example --port 8700

  fedchain explorer --ipfs-api /ip4/127.0.0.1/tcp/5001 --data-dir ~/.cache/fedchain/explorer
"""


@app.command(epilog=EXAMPLES)
def explorer(
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    port: Annotated[int, typer.Option("--port", help="port on 127.0.0.1")] = 8600,
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            metavar="STATUS_URL",
            help="a node's status URL (repeatable): verdicts, scores, rewards, accuracy",
        ),
    ] = None,
    ipfs_api: Annotated[
        str | None,
        typer.Option(
            "--ipfs-api", metavar="MULTIADDR", help="Kubo API multiaddr to fetch blobs from"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="where the index and fetched blobs live "
            "(default: ~/.cache/fedchain/explorer/CHAIN/COORDINATOR)",
        ),
    ] = None,
) -> None:
    """Serve the round explorer: overview, rounds, participants, on http://127.0.0.1:PORT.

    Indexes the chain's events into SQLite in the data directory (kept up to date every
    2 s), and reads the nodes' status endpoints given with --node. Ctrl-C stops it.
    """
    from node.explorer.serve import prepare, serve

    settings = expected_errors(
        lambda: prepare(deployment, rpc_url, nodes or [], ipfs_api, data_dir)
    )
    console.print(f"explorer on http://127.0.0.1:{port}/ (index {settings.index_path})")
    expected_errors(lambda: serve(settings, port))
