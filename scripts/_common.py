"""Shared argument handling for the thin operator scripts (run them from anywhere).

Every script reads the deployment file (default: the local devnet's) and names its
account like the `fedchain` commands do: ``--node-dir DIR`` (DIR/keystore.json; while that
node runs, signing operations go through the node itself, which owns the account's
nonce), ``--keystore FILE``, or ``--private-key-file FILE`` (plaintext, with a warning).
The keystore password: ``--password-file``, else FEDCHAIN_KEYSTORE_PASSWORD, else a prompt.
Mistakes print one plain line (``error: ...``) and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402

from node.chain.client import ChainClient  # noqa: E402
from node.errors import FedchainError  # noqa: E402
from node.operator.devnet import DEFAULT_DEVNET_DIR, deployment_path  # noqa: E402
from node.operator.keys import (  # noqa: E402
    KeySource,
    account_address,
    read_client,
    run_signed,
)

console = Console()
err = Console(stderr=True)


def common() -> argparse.ArgumentParser:
    """The options every script takes (usable as ``parents=[common()]`` of a subcommand)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--deployment",
        type=Path,
        default=deployment_path(DEFAULT_DEVNET_DIR),
        help="deployment file (default: the local devnet's)",
    )
    p.add_argument("--rpc-url", default="", help="override the deployment's RPC URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--node-dir",
        type=Path,
        default=None,
        help="the node's data directory: its keystore.json signs (through the node while "
        "it runs), its state holds reward proofs",
    )
    p.add_argument("--keystore", type=Path, default=None, help="sign with this keystore file")
    p.add_argument(
        "--private-key-file",
        type=Path,
        default=None,
        help="sign with the plaintext 0x key in this file (warns; prefer a keystore)",
    )
    p.add_argument("--key-file", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--password-file",
        type=Path,
        default=None,
        help="file whose first line is the keystore password "
        "(else FEDCHAIN_KEYSTORE_PASSWORD, else a prompt)",
    )
    return p


def parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, parents=[common()])


def source_of(args: argparse.Namespace) -> KeySource:
    """The account the parsed options name."""
    key_file = args.private_key_file
    if args.key_file is not None:
        if key_file is not None:
            raise FedchainError("give --private-key-file only (--key-file is its old name)")
        err.print("warning: --key-file is deprecated: use --private-key-file", markup=False)
        key_file = args.key_file
    if args.keystore is not None and key_file is not None:
        raise FedchainError("give one of --keystore and --private-key-file, not both")
    return KeySource(args.node_dir, args.keystore, key_file, args.password_file)


def signed(
    args: argparse.Namespace,
    op: str,
    op_args: dict[str, Any],
    local: Callable[[ChainClient], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``op`` through the running node of ``--node-dir``, else signed here."""
    return run_signed(op, op_args, source_of(args), args.deployment, args.rpc_url, local)


def address_of(args: argparse.Namespace, required: bool) -> str | None:
    """The account's address, read without a password (None if none is named)."""
    address = account_address(source_of(args))
    if address is None and required:
        raise FedchainError("give --node-dir DIR, --keystore FILE or --private-key-file FILE")
    return address


def reader(args: argparse.Namespace, address: str | None = None) -> ChainClient:
    return read_client(args.deployment, args.rpc_url, address)


def run(main: Callable[[], int]) -> None:
    try:
        sys.exit(main())
    except FedchainError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
