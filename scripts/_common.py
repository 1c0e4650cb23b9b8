"""Shared argument handling for the thin operator scripts (run them from the repo root)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402

from node.errors import FedchainError  # noqa: E402
from node.ops import DEFAULT_DEVNET_DIR, deployment_path  # noqa: E402

console = Console()


def parser(description: str, *, key: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--deployment",
        type=Path,
        default=deployment_path(DEFAULT_DEVNET_DIR),
        help="deployment file (default: the local devnet's)",
    )
    p.add_argument("--rpc-url", default="", help="override the deployment's RPC URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if key:
        p.add_argument(
            "--key-file",
            type=Path,
            required=True,
            help="file holding the account's 0x-prefixed private key",
        )
    return p


def run(main: Callable[[], int]) -> None:
    try:
        sys.exit(main())
    except FedchainError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
