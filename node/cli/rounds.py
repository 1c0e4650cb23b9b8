"""`fedchain rounds`: what the chain recorded."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from node.cli.app import (
    DEFAULT_DEPLOYMENT,
    DeploymentFile,
    Json,
    NodeDir,
    OptKeyFile,
    app,
    console,
    expected_errors,
)


@app.command()
def rounds(
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    round_id: Annotated[int | None, typer.Option("--round", help="detail of one round")] = None,
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    as_json: Json = False,
    watch: Annotated[bool, typer.Option("--watch", help="live view until Ctrl-C")] = False,
) -> None:
    """List rounds: status, commits, votes, model CID, pool, your reward (with a key)."""
    from node.operator.keys import client, key_file_of
    from node.operator.rounds import print_rounds, round_rows, rounds_table

    def run() -> list[dict[str, Any]]:
        key = key_file_of(key_file, node_dir)
        chain = client(deployment, key)
        return round_rows(chain, round_id, chain.address if key else None, node_dir)

    if not watch:
        print_rounds(expected_errors(run), console, as_json)
        return
    import time

    from rich.live import Live

    with Live(rounds_table(expected_errors(run)), console=console) as live:
        try:
            while True:
                time.sleep(2)
                live.update(rounds_table(expected_errors(run)))
        except KeyboardInterrupt:
            pass
