"""`fedchain node stop|wait`: stop a running node; wait until it finished some rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.cli.app import console, err, expected_errors, node_app

NodeDataDir = Annotated[Path, typer.Option("--data-dir", help="the running node's data directory")]


@node_app.command("wait")
def node_wait(
    data_dir: NodeDataDir,
    rounds: Annotated[int, typer.Option(help="how many rounds must have ended")] = 1,
    outcome: Annotated[
        str, typer.Option(help="count rounds that ended so: finalized, failed or any")
    ] = "finalized",
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 600.0,
) -> None:
    """Wait until the node in DATA_DIR recorded ROUNDS rounds (exit 1 on timeout).

    Examples:

      fedchain node wait --data-dir nodes/a --rounds 2

      fedchain node wait --data-dir nodes/a --rounds 1 --outcome any --timeout 120
    """
    from node.operator.lifecycle import wait_for_rounds

    if outcome not in ("finalized", "failed", "any"):
        err.print(f"error: --outcome must be finalized, failed or any, not {outcome!r}")
        raise typer.Exit(2)
    done = expected_errors(
        lambda: wait_for_rounds(
            data_dir,
            rounds,
            timeout,
            outcome=outcome,
            on_progress=lambda n: err.print(f"{n}/{rounds} rounds {outcome}"),
        )
    )
    console.print(f"rounds {', '.join(map(str, done))} {outcome}")


@node_app.command("stop")
def node_stop(
    data_dir: NodeDataDir,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a clean exit")] = 120.0,
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="don't keep serving this round's blobs to the others (2nd Ctrl-C)"
        ),
    ] = False,
    force: Annotated[bool, typer.Option(help="SIGKILL instead of SIGTERM")] = False,
) -> None:
    """Stop the node running from DATA_DIR (like Ctrl-C in its terminal) and wait for it.

    A node that committed in the open round keeps serving its blobs until the round's
    exchange deadline, so the others can still use its update; --now stops at once.

    Examples:

      fedchain node stop --data-dir nodes/a

      fedchain node stop --data-dir nodes/a --now     # e.g. when stopping every node
    """
    from node.operator.lifecycle import stop_node

    pid = expected_errors(lambda: stop_node(data_dir, timeout, force=force, now=now))
    console.print(f"node pid {pid} stopped")
