"""`fedchain demo`: a devnet, N node processes and R rounds end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.cli.app import Port, app, console, expected_errors, setup_logging


@app.command()
def demo(
    nodes: Annotated[int, typer.Option(min=2, help="node processes")] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="training rounds")] = 5,
    task: Annotated[str, typer.Option(help="mnist5k-mlp or digits-mlp")] = "mnist5k-mlp",
    out: Annotated[Path, typer.Option(help="report directory")] = Path("out/demo"),
    port: Port = 8545,
    data_dir: Annotated[Path, typer.Option(help="devnet/ and demo/ go here")] = Path(".data"),
    byzantine: Annotated[int, typer.Option(min=0, help="how many nodes attack")] = 0,
    attack: Annotated[str, typer.Option(help="attack of the Byzantine nodes")] = "sign_flip",
    rule: Annotated[str, typer.Option(help="aggregation rule, e.g. nnm+trimmed_mean")] = "",
    alpha: Annotated[float, typer.Option(min=0, help="Dirichlet label skew (0: IID)")] = 0.0,
    collude: Annotated[
        bool, typer.Option(help="attackers with the same attack pool data, send one update")
    ] = True,
    stop_devnet: Annotated[bool, typer.Option(help="also stop the devnet at the end")] = False,
) -> None:
    """Devnet + N nodes + R rounds end to end; exit 0 only if every round finalized."""
    from node.demo.run import DemoOptions, run_demo

    setup_logging(False, "WARNING")
    opts = DemoOptions(
        nodes=nodes,
        rounds=rounds,
        task=task,
        out=out,
        port=port,
        data_root=data_dir,
        byzantine=byzantine,
        attack=attack,
        rule=rule or ("nnm+trimmed_mean" if byzantine else "fedavg"),
        alpha=alpha,
        collude=collude,
        stop_devnet=stop_devnet,
    )
    code = expected_errors(lambda: run_demo(opts, console))
    raise typer.Exit(code)
