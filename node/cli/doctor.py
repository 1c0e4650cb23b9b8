"""`fedchain doctor`: what is missing or broken, and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.cli.app import DEFAULT_DEVNET, DevnetDir, Json, app, console, expected_errors

DOCTOR_EXAMPLES = """Examples:

  fedchain doctor

  fedchain doctor --node-dir nodes/a

  fedchain doctor --deployment my-task.json --rpc-url $RPC --json
"""


@app.command(epilog=DOCTOR_EXAMPLES)
def doctor(
    node_dir: Annotated[
        Path | None,
        typer.Option(help="also check this node: config, keystore, funds, registration, port"),
    ] = None,
    data_dir: DevnetDir = DEFAULT_DEVNET,
    deployment: Annotated[
        Path | None,
        typer.Option(help="deployment file (default: the node's, else DATA_DIR/deployment.json)"),
    ] = None,
    rpc_url: Annotated[str, typer.Option(help="override the deployment's RPC URL")] = "",
    as_json: Json = False,
) -> None:
    """Check the toolchain, devnet, deployment, RPC, task and (with --node-dir) the node's
    account; print ok/FAIL with the fix for each; exit 1 if anything fails."""
    from node.operator.doctor import print_checks, run_checks

    if deployment is not None and data_dir == DEFAULT_DEVNET:
        data_dir = deployment.parent  # `devnet up --data-dir D` writes D/deployment.json
    checks = expected_errors(
        lambda: run_checks(
            data_dir, deployment or data_dir / "deployment.json", node_dir, rpc_url, deployment
        )
    )
    print_checks(checks, console, as_json)
    if any(c.status == "FAIL" for c in checks):
        raise typer.Exit(1)
