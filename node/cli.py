"""`fedchain` command line. Expected errors print one line and exit 1, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from node.errors import FedchainError

T = TypeVar("T")
app = typer.Typer(help="fedchain: decentralized federated learning node", no_args_is_help=True)
devnet_app = typer.Typer(help="local Anvil devnet", no_args_is_help=True)
node_app = typer.Typer(help="the node daemon", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")
app.add_typer(node_app, name="node")
console = Console()
err = Console(stderr=True)

DEFAULT_DEVNET = Path(".data/devnet")
DevnetDir = Annotated[Path, typer.Option("--data-dir", help="devnet data directory")]
Port = Annotated[int, typer.Option(help="RPC port on 127.0.0.1")]


def expected_errors(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except FedchainError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


def setup_logging(json_logs: bool, level: str = "INFO") -> None:
    from node.logs import configure

    configure(json_logs=json_logs, level=level)


@devnet_app.command("up")
def devnet_up(data_dir: DevnetDir = DEFAULT_DEVNET, port: Port = 8545) -> None:
    """Start anvil (state kept in DATA_DIR), deploy if needed, print funded accounts."""
    from node.ops import devnet_up as up

    expected_errors(lambda: up(data_dir, port, console))


@devnet_app.command("down")
def devnet_down(data_dir: DevnetDir = DEFAULT_DEVNET) -> None:
    """Stop anvil; its state is saved in DATA_DIR."""
    from node.chain import devnet

    expected_errors(lambda: devnet.down(data_dir))
    console.print("devnet stopped")


@devnet_app.command("status")
def devnet_status(data_dir: DevnetDir = DEFAULT_DEVNET) -> None:
    """Is the devnet running, where, at which block."""
    from node.ops import devnet_status as status

    expected_errors(lambda: status(data_dir, console))


@node_app.command("run")
def node_run(
    config: Annotated[Path, typer.Option(help="node config file (TOML)")],
    listen_port: Annotated[int | None, typer.Option(help="libp2p TCP port")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="stop after N rounds (0: never)")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="JSON log lines")] = False,
) -> None:
    """Run the node daemon in the foreground (Ctrl-C stops it cleanly)."""
    import trio

    from node.config import load_config
    from node.daemon import run_node

    flags: dict[str, Any] = {"listen_port": listen_port, "max_rounds": max_rounds}
    if log_json:
        flags["log_json"] = True
    cfg = expected_errors(lambda: load_config(config, flags))
    setup_logging(cfg.log_json)
    try:
        expected_errors(lambda: trio.run(run_node, cfg))
    except KeyboardInterrupt:
        err.print("node stopped")


@app.command()
def demo(
    nodes: Annotated[int, typer.Option(min=2, help="node processes")] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="training rounds")] = 5,
    task: Annotated[str, typer.Option(help="mnist5k-mlp or digits-mlp")] = "mnist5k-mlp",
    out: Annotated[Path, typer.Option(help="report directory")] = Path("out/demo"),
    port: Port = 8545,
    data_dir: Annotated[Path, typer.Option(help="devnet/ and demo/ go here")] = Path(".data"),
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
        stop_devnet=stop_devnet,
    )
    code = expected_errors(lambda: run_demo(opts, console))
    raise typer.Exit(code)
