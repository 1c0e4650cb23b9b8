"""The typer app, its sub-apps, shared option types and the one-line error handling."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

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


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"fedchain {version('fedchain')}")
        except PackageNotFoundError:  # run from a checkout that was never pip-installed
            print("fedchain (not installed: `pip install -e .`)")
        raise typer.Exit()


@app.callback(
    epilog="Examples:\n\n  fedchain --version\n\n  fedchain doctor\n\n"
    "  fedchain devnet up --task digits-mlp --min-participants 2"
)
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """fedchain: decentralized federated learning node."""


DEFAULT_DEVNET = Path(".data/devnet")
DevnetDir = Annotated[Path, typer.Option("--data-dir", help="devnet data directory")]
Port = Annotated[int, typer.Option(envvar="FEDCHAIN_DEVNET_PORT", help="RPC port on 127.0.0.1")]


def expected_failure(exc: BaseException) -> FedchainError | None:
    """The FedchainError behind ``exc``, looking through trio's exception groups."""
    if isinstance(exc, FedchainError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [expected_failure(e) for e in exc.exceptions]
        if found and all(f is not None for f in found):
            return found[0]
    return None


def expected_errors(fn: Callable[[], T]) -> T:
    """Run ``fn``; an expected failure becomes one line on stderr and exit status 1."""
    try:
        return fn()
    except BaseException as exc:
        failure = expected_failure(exc)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        raise typer.Exit(1) from None


def setup_logging(json_logs: bool, level: str = "INFO") -> None:
    from node.logs import configure

    configure(json_logs=json_logs, level=level)


DeploymentFile = Annotated[Path, typer.Option("--deployment", help="deployment file")]
DEFAULT_DEPLOYMENT = DEFAULT_DEVNET / "deployment.json"
KeyFile = Annotated[Path, typer.Option("--key-file", help="file with the 0x private key")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]

NodeDir = Annotated[
    Path | None,
    typer.Option("--node-dir", help="the node's data directory (key.hex, state, p2p key)"),
]
OptKeyFile = Annotated[Path | None, typer.Option("--key-file", help="file with the 0x private key")]

PasswordFile = Annotated[
    Path | None, typer.Option(help="file whose first line is the keystore password")
]
