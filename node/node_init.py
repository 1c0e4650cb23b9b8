"""`fedchain node init`: a data directory with a fresh key and a commented config file."""

from __future__ import annotations

from pathlib import Path

from node.errors import ConfigError
from node.keystore import KEYSTORE_FILE, create_keystore, keystore_address, resolve_password

CONFIG_TEMPLATE = """# fedchain node configuration.
# Precedence: this file < FEDCHAIN_<KEY> environment variables < command-line flags.
[node]
# where this node keeps its state, blockstore and libp2p key (relative to this file)
data_dir = "."
# deployment file written by `fedchain devnet up` (chain id, RPC URL, contract addresses)
deployment = "{deployment}"
# the node's Ethereum key lives encrypted in keystore.json (this directory); its password
# comes from password_file, else FEDCHAIN_KEYSTORE_PASSWORD, else a prompt
password_file = ""
# legacy: a plaintext key file, used only when there is no keystore.json
key_file = "key.hex"
# RPC URL override; empty uses the deployment file's
rpc_url = ""
# libp2p TCP listen address; port 0 picks a free port
listen_host = "127.0.0.1"
listen_port = 0
# learning task and which partition of its training data this node holds
task = "{task}"
partition_index = {index}
partition_count = {count}
# iid | dirichlet:<alpha> | shards:<per node>; nodes of one local run share partition_seed
partition = "iid"
partition_seed = 0
# seed of this node's own training shuffle
data_seed = {index}
epochs = 2
lr = 0.05
batch_size = 32
# stake to register with, in token base units (1 FED = 10**18)
stake = 100000000000000000000
# updates claiming more examples are rejected; L2 bound on an update delta
max_examples = 10000
norm_bound = 20.0
# seconds to wait for one peer blob over Bitswap
fetch_timeout = 30.0
# claim rewards automatically after each finalized round
auto_claim = true
# stop after N rounds (0: run until stopped)
max_rounds = 0
"""


def init_node(
    data_dir: Path,
    deployment: Path,
    task: str,
    index: int,
    count: int,
    force: bool = False,
    password_file: Path | None = None,
) -> tuple[Path, str]:
    """Create ``data_dir`` with an encrypted keystore and config.toml; (config, address)."""
    config = data_dir / "config.toml"
    if config.exists() and not force:
        raise ConfigError(f"{config} already exists (use --force to overwrite the config)")
    if not 0 <= index < count:
        raise ConfigError(f"--partition-index must be in [0, {count})")
    data_dir.mkdir(parents=True, exist_ok=True)
    keystore = data_dir / KEYSTORE_FILE
    if keystore.exists():
        address = keystore_address(keystore)
    else:
        address = create_keystore(keystore, resolve_password(password_file, confirm=True))
    config.write_text(
        CONFIG_TEMPLATE.format(deployment=deployment.resolve(), task=task, index=index, count=count)
    )
    return config, address
