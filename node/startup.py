"""The cheap start-up checks of `fedchain node run`, done before torch and the data load.

A wrong password or an unreachable RPC endpoint is reported in about a second, not after
the seconds it takes to import torch and load the training data.
"""

from __future__ import annotations

from pathlib import Path

from node.chain.client import ChainClient
from node.chain.deploy import Deployment
from node.config import NodeConfig
from node.keystore import load_signing_key


def open_account(cfg: NodeConfig) -> ChainClient:
    """Unlock the node's keystore and connect to the chain (``ChainUnreachable`` if down)."""
    deployment = Deployment.load(cfg.deployment)
    key = load_signing_key(
        cfg.data_dir,
        password_file=Path(cfg.password_file) if cfg.password_file else None,
        legacy_key_file=cfg.key_file,
    )
    return ChainClient(cfg.rpc_url or deployment.rpc_url, deployment, key)
