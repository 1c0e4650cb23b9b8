"""Shared argument handling for the thin operator scripts (run them from anywhere).

Every script reads the deployment file (default: the local devnet's) and signs with the
node's key: ``--node-dir DIR`` uses DIR/key.hex, ``--key-file FILE`` any other key file.
Mistakes print one plain line (``error: ...``) and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402

from node.chain.client import ChainClient  # noqa: E402
from node.errors import FedchainError  # noqa: E402
from node.ops import DEFAULT_DEVNET_DIR, client, deployment_path, key_file_of  # noqa: E402

console = Console()
err = Console(stderr=True)


def common(key: bool) -> argparse.ArgumentParser:
    """The options every script takes (usable as ``parents=[common(...)]`` of a subcommand)."""
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
        help="the node's data directory: its key.hex signs, its state holds reward proofs",
    )
    p.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="file holding the account's 0x-prefixed private key (instead of --node-dir)",
    )
    p.set_defaults(needs_key=key)
    return p


def parser(description: str, *, key: bool) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, parents=[common(key)])


def chain_of(args: argparse.Namespace) -> ChainClient:
    """The client for the parsed arguments; a signing key is required if the script needs one."""
    key = key_file_of(args.key_file, args.node_dir)
    if key is None and args.needs_key:
        raise FedchainError("give --node-dir (the node's data directory) or --key-file")
    return client(args.deployment, key, args.rpc_url)


def run(main: Callable[[], int]) -> None:
    try:
        sys.exit(main())
    except FedchainError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
