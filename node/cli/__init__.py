"""`fedchain` command line. Expected errors print one line and exit 1, no traceback.

Each module registers its commands on the app in ``node.cli.app``; heavy imports (torch,
web3, libp2p) happen inside the commands, so ``--help`` stays fast.
"""

from node.cli import (  # noqa: F401  (registers commands)
    account,
    demo,
    deploy,
    devnet,
    doctor,
    explorer,
    lifecycle,
    model,
    node,
    rounds,
    staking,
)
from node.cli.app import app

__all__ = ["app"]
