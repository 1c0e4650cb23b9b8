"""Signing operator commands: stake, unstake, withdraw, claim; and balance (read-only).

With ``--node-dir`` of a running node the operation goes to the node (its local control
endpoint), which owns the account's nonce; otherwise the command signs itself with the
node's keystore, a ``--keystore`` or an explicit ``--private-key-file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from node.cli.app import (
    DEFAULT_DEPLOYMENT,
    DeploymentFile,
    Json,
    app,
    console,
    err,
    expected_errors,
)
from node.cli.keyopts import (
    Keystore,
    LegacyKeyFile,
    PrivateKeyFile,
    RpcUrl,
    SignNodeDir,
    SignPasswordFile,
    key_source,
)

_SIGNING = (
    "Signs as --node-dir DIR (its keystore.json; while that node runs, the node sends the "
    "transaction itself), --keystore FILE, or --private-key-file FILE (plaintext, warns). "
    "Password: --password-file, else FEDCHAIN_KEYSTORE_PASSWORD, else a prompt."
)


def _epilog(*examples: str, signing: bool = True) -> str:
    lines = "\n\n".join(f"  {e}" for e in examples)
    return (_SIGNING if signing else "") + f"\n\nExamples:\n\n{lines}"


def _signed(
    op: str,
    args: dict[str, Any],
    local: Any,
    sources: tuple[Path | None, Path | None, Path | None, Path | None, Path | None],
    deployment: Path,
    rpc_url: str,
) -> dict[str, Any]:
    from node.operator.keys import run_signed

    return run_signed(op, args, key_source(*sources), deployment, rpc_url, local)


@app.command(
    epilog=_epilog(
        "fedchain stake 50 --node-dir nodes/a   # registers the node",
        "fedchain stake 12.5 --node-dir nodes/a --password-file pw.txt",
        "fedchain stake 10 --keystore ~/keys/op.json --json",
    )
)
def stake(
    amount: Annotated[str, typer.Argument(help="FED to stake (registers first if needed)")],
    node_dir: SignNodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
    password_file: SignPasswordFile = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
) -> None:
    """Stake FED: top up, or register with the node's peer id (give --node-dir)."""
    from node.operator.format import parse_amount
    from node.operator.output import print_result

    def local(chain: Any, units: int) -> dict[str, Any]:
        from node.operator.staking import stake_more

        return stake_more(chain, units, node_dir)

    def run() -> dict[str, Any]:
        units = parse_amount(amount)
        return _signed(
            "stake",
            {"amount": units},
            lambda chain: local(chain, units),
            (node_dir, keystore, private_key_file, key_file, password_file),
            deployment,
            rpc_url,
        )

    print_result(expected_errors(run), console, as_json)


@app.command(
    epilog=_epilog(
        "fedchain unstake 30 --node-dir nodes/a     # part of the stake",
        "fedchain unstake --node-dir nodes/a        # all of it",
    )
)
def unstake(
    amount: Annotated[str | None, typer.Argument(help="FED to unstake (default: all)")] = None,
    node_dir: SignNodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
    password_file: SignPasswordFile = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
) -> None:
    """Request stake out; `fedchain withdraw` after the cool-down."""
    from node.operator.format import parse_amount
    from node.operator.output import print_result

    def local(chain: Any, units: int | None) -> dict[str, Any]:
        from node.operator.staking import request_unstake

        return request_unstake(chain, units)

    def run() -> dict[str, Any]:
        units = None if amount is None else parse_amount(amount)
        return _signed(
            "unstake",
            {"amount": units},
            lambda chain: local(chain, units),
            (node_dir, keystore, private_key_file, key_file, password_file),
            deployment,
            rpc_url,
        )

    print_result(expected_errors(run), console, as_json)


@app.command(
    epilog=_epilog(
        "fedchain withdraw --node-dir nodes/a",
        "fedchain withdraw --node-dir nodes/a --wait      # blocks until the cool-down ends",
        "fedchain withdraw --keystore ~/keys/op.json --password-file pw.txt",
    )
)
def withdraw(
    node_dir: SignNodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
    password_file: SignPasswordFile = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait for the cool-down to end, then withdraw")
    ] = False,
    timeout: Annotated[float, typer.Option(help="with --wait: give up after SECONDS")] = 3600.0,
) -> None:
    """Withdraw unstaked FED whose cool-down ended (--wait: once it ends)."""
    from node.operator.output import print_result

    if wait:
        expected_errors(
            lambda: _wait_for_unlock(
                (node_dir, keystore, private_key_file, key_file), deployment, rpc_url, timeout
            )
        )

    def local(chain: Any) -> dict[str, Any]:
        from node.operator.staking import withdraw as do_withdraw

        return do_withdraw(chain)

    def run() -> dict[str, Any]:
        return _signed(
            "withdraw",
            {},
            local,
            (node_dir, keystore, private_key_file, key_file, password_file),
            deployment,
            rpc_url,
        )

    print_result(expected_errors(run), console, as_json)


@app.command(
    epilog=_epilog(
        "fedchain claim --node-dir nodes/a                # everything unclaimed",
        "fedchain claim --node-dir nodes/a --round 7 --json",
        "fedchain claim --keystore ~/keys/op.json        # voter rewards only",
    )
)
def claim(
    node_dir: SignNodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
    password_file: SignPasswordFile = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    round_id: Annotated[int | None, typer.Option("--round", help="only this round")] = None,
    no_voter: Annotated[bool, typer.Option("--no-voter", help="skip voter rewards")] = False,
    as_json: Json = False,
) -> None:
    """Claim every unclaimed reward: contributor (node records) and voter rewards."""
    from node.operator.output import print_result

    def local(chain: Any) -> dict[str, Any]:
        from node.operator.rewards import claim_all

        return claim_all(chain, node_dir, voter=not no_voter, only=round_id)

    def run() -> dict[str, Any]:
        return _signed(
            "claim",
            {"voter": not no_voter, "round": round_id},
            local,
            (node_dir, keystore, private_key_file, key_file, password_file),
            deployment,
            rpc_url,
        )

    print_result(expected_errors(run), console, as_json)


@app.command(
    epilog=_epilog(
        "fedchain balance --node-dir nodes/a       # no password needed",
        "fedchain balance --address 0xf39F...2266 --json",
        signing=False,
    )
)
def balance(
    node_dir: SignNodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
    address: Annotated[str | None, typer.Option("--address", help="any account")] = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
) -> None:
    """Wallet, stake, unbonding (and when it unlocks), unclaimed rewards.

    Read-only: the address comes from the keystore without its password.
    """
    from node.operator.staking import print_balance

    def run() -> dict[str, Any]:
        from node.errors import FedchainError
        from node.operator.keys import account_address, read_client
        from node.operator.staking import balance as get_balance

        source = key_source(node_dir, keystore, private_key_file, key_file, None)
        account = address or account_address(source)
        if account is None:
            raise FedchainError(
                "whose balance? give --node-dir DIR, --keystore FILE or --address 0x..."
            )
        return get_balance(read_client(deployment, rpc_url, account), node_dir)

    print_balance(expected_errors(run), console, as_json)


def _wait_for_unlock(
    keys: tuple[Path | None, Path | None, Path | None, Path | None],
    deployment: Path,
    rpc_url: str,
    timeout: float,
) -> None:
    from node.errors import FedchainError
    from node.operator.keys import account_address, read_client
    from node.operator.staking import wait_until_withdrawable

    address = account_address(key_source(*keys, None))
    if address is None:
        raise FedchainError("give --node-dir DIR, --keystore FILE or --private-key-file FILE")
    chain = read_client(deployment, rpc_url, address=address)
    wait_until_withdrawable(
        chain, timeout, on_wait=lambda left: err.print(f"cool-down ends in {left} s")
    )
