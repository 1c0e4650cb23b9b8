"""`fedchain devnet ...` and `fedchain fund`: the local Anvil devnet."""

from __future__ import annotations

from typing import Annotated

import typer

from node.cli.app import DEFAULT_DEVNET, DevnetDir, Port, app, console, devnet_app, expected_errors


@devnet_app.command("up")
def devnet_up(data_dir: DevnetDir = DEFAULT_DEVNET, port: Port = 8545) -> None:
    """Start anvil (state kept in DATA_DIR), deploy if needed, print funded accounts."""
    from node.operator.devnet import devnet_up as up

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
    from node.operator.devnet import devnet_status as status

    expected_errors(lambda: status(data_dir, console))


@app.command()
def fund(
    address: Annotated[str, typer.Argument(help="account to fund")],
    tokens: Annotated[int, typer.Option(help="FED to mint to it")] = 1000,
    eth: Annotated[int, typer.Option(help="devnet ETH to send for gas")] = 10,
    data_dir: DevnetDir = DEFAULT_DEVNET,
) -> None:
    """Devnet only: mint FED and send ETH to ADDRESS from the deployer account."""
    from node.operator.devnet import fund_on_devnet

    expected_errors(lambda: fund_on_devnet(data_dir, address, tokens, eth))
    console.print(f"funded {address} with {tokens} FED and {eth} ETH")
