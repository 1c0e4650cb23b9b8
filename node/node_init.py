"""`fedchain node init`: a data directory with a fresh key and a commented config file."""

from __future__ import annotations

from pathlib import Path

from node.chain.deploy import Deployment
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
# learning task (must be the deployment's) and which partition of its training data
# this node holds; the aggregation rule is the deployment's, the same on every node
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
# registered peers kept connected (the others are dialled when needed)
overlay_degree = 8
# wake on new blocks over the RPC endpoint's WebSocket (false: poll every poll_interval)
chain_watch = true
# claim rewards automatically after each finalized round
auto_claim = true
# stop after N rounds (0: run until stopped)
max_rounds = 0
"""


def check_task(deployment: Deployment, task: str) -> None:
    """The task loads and is the deployment's (cheap for built-in names: no torch)."""
    from node.learning.tasks import get_task

    loaded = get_task(task)
    if loaded.name != deployment.task_id:
        raise ConfigError(
            f"task {task!r} is {loaded.name!r} but the deployment runs {deployment.task_id!r}: "
            f"leave out --task (the deployment's is {deployment.task_spec!r})"
        )


def check_genesis(deployment: Deployment, task: str) -> None:
    """The task's genesis model hashes to the deployment's genesis CID (imports torch)."""
    from node.operator.deploy import genesis_cid

    cid = genesis_cid(task)
    if cid != deployment.genesis_model_cid:
        raise ConfigError(
            f"task {task!r} builds a genesis model {cid} but the deployment's is "
            f"{deployment.genesis_model_cid}: install the same version of the task's code "
            "as the deployer (same model, same initialisation)"
        )


def init_node(
    data_dir: Path,
    deployment: Path,
    task: str | None,
    index: int,
    count: int,
    force: bool = False,
    password_file: Path | None = None,
) -> tuple[Path, str]:
    """Create ``data_dir`` with an encrypted keystore and config.toml; (config, address).

    Cheap checks first (arguments, deployment file, the task's name and id), then the
    genesis model (torch), and only then the password: nothing prompts for a password
    when init would fail anyway.
    """
    config = data_dir / "config.toml"
    if config.exists() and not force:
        raise ConfigError(f"{config} already exists (use --force to overwrite the config)")
    if count < 1:
        raise ConfigError(f"--partition-count must be >= 1, got {count}")
    if not 0 <= index < count:
        raise ConfigError(f"--partition-index must be in [0, {count}), got {index}")
    if password_file is not None and not password_file.is_file():
        raise ConfigError(f"password file {password_file} not found")
    loaded = Deployment.load(deployment)
    spec = task or loaded.task_spec
    check_task(loaded, spec)
    check_genesis(loaded, spec)
    data_dir.mkdir(parents=True, exist_ok=True)
    keystore = data_dir / KEYSTORE_FILE
    if keystore.exists():
        address = keystore_address(keystore)
    else:
        address = create_keystore(keystore, resolve_password(password_file, confirm=True))
    config.write_text(
        CONFIG_TEMPLATE.format(deployment=deployment.resolve(), task=spec, index=index, count=count)
    )
    return config, address
