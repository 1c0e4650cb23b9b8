"""The options naming the account an operator command signs or reads as."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from node.errors import FedchainError

if TYPE_CHECKING:
    from node.operator.keys import KeySource

SignNodeDir = Annotated[
    Path | None,
    typer.Option(
        "--node-dir",
        help="the node's data directory: its keystore.json signs (through the node itself "
        "while it runs), its state holds the reward proofs",
    ),
]
Keystore = Annotated[
    Path | None, typer.Option("--keystore", help="sign with this eth-account keystore file")
]
PrivateKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--private-key-file",
        help="sign with the plaintext 0x key in FILE (warns; prefer a keystore)",
    ),
]
LegacyKeyFile = Annotated[
    Path | None,
    typer.Option("--key-file", hidden=True, help="deprecated: use --private-key-file"),
]
SignPasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="file whose first line is the keystore password "
        "(else FEDCHAIN_KEYSTORE_PASSWORD, else a prompt)",
    ),
]
RpcUrl = Annotated[str, typer.Option("--rpc-url", help="override the deployment's RPC URL")]


def key_source(
    node_dir: Path | None,
    keystore: Path | None,
    private_key_file: Path | None,
    legacy_key_file: Path | None,
    password_file: Path | None,
) -> KeySource:
    """The account the options name; FedchainError if they name two keys."""
    from node.operator.keys import KeySource

    if legacy_key_file is not None:
        if private_key_file is not None:
            raise FedchainError("give --private-key-file only (--key-file is its old name)")
        print("warning: --key-file is deprecated: use --private-key-file", file=sys.stderr)
        private_key_file = legacy_key_file
    if keystore is not None and private_key_file is not None:
        raise FedchainError("give one of --keystore and --private-key-file, not both")
    return KeySource(node_dir, keystore, private_key_file, password_file)
