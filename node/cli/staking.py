"""Signing operator commands: stake, unstake, withdraw, balance, claim."""

from __future__ import annotations

from pathlib import Path
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
from node.errors import FedchainError


def _signer(deployment: Path, key_file: Path | None, node_dir: Path | None) -> Any:
    from node.operator.keys import client, key_file_of

    key = key_file_of(key_file, node_dir)
    if key is None:
        raise FedchainError("give --key-file or --node-dir (whose key.hex signs)")
    return client(deployment, key)


@app.command()
def stake(
    amount: Annotated[str, typer.Argument(help="FED to stake (registers first if needed)")],
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Stake FED: top up, or register with the node's peer id (give --node-dir)."""
    from node.operator.format import parse_amount
    from node.operator.output import print_result
    from node.operator.staking import stake_more

    result = expected_errors(
        lambda: stake_more(_signer(deployment, key_file, node_dir), parse_amount(amount), node_dir)
    )
    print_result(result, console, as_json)


@app.command()
def unstake(
    amount: Annotated[str | None, typer.Argument(help="FED to unstake (default: all)")] = None,
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Request stake out; `fedchain withdraw` after the cool-down."""
    from node.operator.format import parse_amount
    from node.operator.output import print_result
    from node.operator.staking import request_unstake

    result = expected_errors(
        lambda: request_unstake(
            _signer(deployment, key_file, node_dir),
            None if amount is None else parse_amount(amount),
        )
    )
    print_result(result, console, as_json)


@app.command()
def withdraw(
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Withdraw unstaked FED whose cool-down ended."""
    from node.operator.output import print_result
    from node.operator.staking import withdraw as do_withdraw

    result = expected_errors(lambda: do_withdraw(_signer(deployment, key_file, node_dir)))
    print_result(result, console, as_json)


@app.command()
def balance(
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Wallet, stake, unbonding (and when it unlocks), unclaimed rewards."""
    from node.operator.staking import balance as get_balance
    from node.operator.staking import print_balance

    result = expected_errors(lambda: get_balance(_signer(deployment, key_file, node_dir), node_dir))
    print_balance(result, console, as_json)


@app.command()
def claim(
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    round_id: Annotated[int | None, typer.Option("--round", help="only this round")] = None,
    no_voter: Annotated[bool, typer.Option("--no-voter", help="skip voter rewards")] = False,
    as_json: Json = False,
) -> None:
    """Claim every unclaimed reward: contributor (node records) and voter rewards."""
    from node.operator.output import print_result
    from node.operator.rewards import claim_all

    result = expected_errors(
        lambda: claim_all(
            _signer(deployment, key_file, node_dir), node_dir, voter=not no_voter, only=round_id
        )
    )
    print_result(result, console, as_json)
