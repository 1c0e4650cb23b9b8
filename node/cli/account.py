"""`fedchain account new|import|list|address`: keystores, like `cast wallet`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from node.cli.app import Json, app, console, expected_errors
from node.cli.keyopts import (
    Keystore,
    LegacyKeyFile,
    PrivateKeyFile,
    SignNodeDir,
    SignPasswordFile,
    key_source,
)

account_app = typer.Typer(
    help="Ethereum accounts in encrypted keystores (eth-account v3, what geth and cast read)",
    no_args_is_help=True,
)
app.add_typer(account_app, name="account")


def _print(result: dict[str, Any], as_json: bool) -> None:
    from node.operator.output import print_result

    print_result(result, console, as_json)


@account_app.command(
    "new",
    epilog="Examples:\n\n  fedchain account new --keystore keys/operator.json\n\n"
    "  FEDCHAIN_KEYSTORE_PASSWORD=... fedchain account new --node-dir nodes/c",
)
def account_new(
    keystore: Keystore = None,
    node_dir: SignNodeDir = None,
    password_file: SignPasswordFile = None,
    as_json: Json = False,
) -> None:
    """Create a new random account, encrypted into --keystore FILE or DIR/keystore.json."""
    from node.operator.accounts import keystore_target, new_account

    _print(
        expected_errors(lambda: new_account(keystore_target(node_dir, keystore), password_file)),
        as_json,
    )


@account_app.command(
    "import",
    epilog="Examples:\n\n"
    "  fedchain account import --private-key-file nodes/a/key.hex --node-dir nodes/a\n\n"
    "  fedchain account import --private-key-file k.hex --keystore keys/k.json --remove-plaintext",
)
def account_import(
    private_key_file: Annotated[
        Path, typer.Option("--private-key-file", help="file with the plaintext 0x private key")
    ],
    keystore: Keystore = None,
    node_dir: SignNodeDir = None,
    password_file: SignPasswordFile = None,
    remove_plaintext: Annotated[
        bool, typer.Option("--remove-plaintext", help="overwrite and delete the key file after")
    ] = False,
    as_json: Json = False,
) -> None:
    """Encrypt a plaintext private key into a keystore (--keystore FILE or DIR/keystore.json)."""
    from node.operator.accounts import import_account, keystore_target

    _print(
        expected_errors(
            lambda: import_account(
                private_key_file,
                keystore_target(node_dir, keystore),
                password_file,
                remove=remove_plaintext,
            )
        ),
        as_json,
    )


@account_app.command(
    "list",
    epilog="Examples:\n\n  fedchain account list\n\n  fedchain account list --dir ~/keys --json",
)
def account_list(
    dirs: Annotated[
        list[Path] | None,
        typer.Option("--dir", help="where to look (repeatable; default: ./nodes and ./.data)"),
    ] = None,
    as_json: Json = False,
) -> None:
    """List the keystores under a directory: address and file (no password needed)."""
    import json

    from node.operator.accounts import list_accounts

    found = expected_errors(lambda: list_accounts(dirs))
    if as_json:
        console.print_json(json.dumps(found))
        return
    if not found:
        console.print("no keystores found (create one: `fedchain account new --keystore FILE`)")
    for entry in found:
        console.print(f"{entry['address']}  {entry['keystore']}", highlight=False)


@account_app.command(
    "address",
    epilog="Examples:\n\n  fedchain account address --node-dir nodes/a\n\n"
    "  fedchain account address --keystore keys/operator.json",
)
def account_address(
    node_dir: SignNodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
) -> None:
    """Print the account's address (read from the keystore, no password needed)."""
    from node.errors import FedchainError
    from node.operator.keys import account_address as address_of

    def run() -> str:
        address = address_of(key_source(node_dir, keystore, private_key_file, key_file, None))
        if address is None:
            raise FedchainError("give --node-dir DIR, --keystore FILE or --private-key-file FILE")
        return address

    console.print(expected_errors(run), highlight=False)
