"""`fedchain node init|status|run`: the node daemon."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from node.cli.app import Json, PasswordFile, console, err, expected_errors, node_app, setup_logging

INIT_EXAMPLES = """Examples:

  fedchain node init --data-dir nodes/a

  fedchain node init --data-dir nodes/b --partition-index 1 --partition-count 2

  fedchain node init --data-dir nodes/c --deployment my-task.json --task my-task
"""


@node_app.command("init", epilog=INIT_EXAMPLES)
def node_init(
    data_dir: Annotated[Path, typer.Option(help="node data directory to create")],
    deployment: Annotated[Path, typer.Option(help="deployment file")] = Path(
        ".data/devnet/deployment.json"
    ),
    task: Annotated[
        str | None,
        typer.Option(help="learning task (default: the deployment's; must match it)"),
    ] = None,
    partition_index: Annotated[int, typer.Option(help="this node's data partition")] = 0,
    partition_count: Annotated[int, typer.Option(help="number of partitions")] = 1,
    force: Annotated[bool, typer.Option(help="overwrite an existing config")] = False,
    password_file: PasswordFile = None,
) -> None:
    """Create a data directory with an encrypted key and a commented config file.

    Checks first that the task loads, is the deployment's task and builds the deployment's
    genesis model; the keystore password comes from --password-file, else
    FEDCHAIN_KEYSTORE_PASSWORD, else a prompt.
    """
    from node.node_init import init_node

    config, address = expected_errors(
        lambda: init_node(
            data_dir, deployment, task, partition_index, partition_count, force, password_file
        )
    )
    console.print(f"wrote {config}; account {address} (fund it with tokens and ETH to stake)")


STATUS_EXAMPLES = """Examples:

  fedchain node status --data-dir nodes/a

  fedchain node status --data-dir nodes/a --json
"""

RUN_EXAMPLES = """Examples:

  fedchain node run --config nodes/a/config.toml

  fedchain node run --config nodes/a/config.toml --password-file pw.txt --log-json

  fedchain node run --config nodes/a/config.toml --max-rounds 5 --ipfs-api /ip4/127.0.0.1/tcp/5001

A second Ctrl-C stops at once; the first keeps serving this round's blobs until its
exchange deadline if the node has committed.
"""


@node_app.command("status", epilog=STATUS_EXAMPLES)
def node_status(
    data_dir: Annotated[Path, typer.Option(help="the running node's data directory")],
    as_json: Json = False,
) -> None:
    """Ask a running node (its local status endpoint) what it is doing."""
    from node.node_status import fetch_status, print_status

    status = expected_errors(lambda: fetch_status(data_dir))
    print_status(status, console, as_json)


@node_app.command("run", epilog=RUN_EXAMPLES)
def node_run(
    config: Annotated[Path, typer.Option(help="node config file (TOML)")],
    listen_port: Annotated[int | None, typer.Option(help="libp2p TCP port")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="stop after N rounds (0: never)")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="JSON log lines")] = False,
    password_file: PasswordFile = None,
    ipfs_api: Annotated[
        str | None, typer.Option(help="also pin blobs to a Kubo API, /ip4/127.0.0.1/tcp/5001")
    ] = None,
) -> None:
    """Run the node daemon in the foreground (Ctrl-C stops it cleanly)."""
    import trio

    from node.config import load_config
    from node.startup import open_account

    flags: dict[str, Any] = {
        "listen_port": listen_port,
        "max_rounds": max_rounds,
        "password_file": password_file,
        "ipfs_api": ipfs_api,
    }
    if log_json:
        flags["log_json"] = True
    cfg = expected_errors(lambda: load_config(config, flags))
    setup_logging(cfg.log_json, cfg.log_level)
    if config is not None and "simulation" in tomllib.loads(config.read_text()):
        logging.getLogger("node.cli").warning(
            "%s has a [simulation] table (attack settings): `fedchain node run` runs an honest "
            "node and ignores it; simulation nodes start with `python -m node.attacks --config %s`",
            config,
            config,
        )
    chain = expected_errors(lambda: open_account(cfg))  # before torch and the data load
    from node.daemon import run_node

    try:
        expected_errors(lambda: trio.run(run_node, cfg, chain))
    except KeyboardInterrupt:
        err.print("node stopped")
