"""The local Anvil devnet: start, deploy, status, fund (devnet only)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from node.chain import devnet
from node.chain.deploy import Deployment, DeployParams, deploy
from node.chain.tx import connect
from node.errors import FedchainError
from node.operator.format import TOKEN

DEFAULT_DEVNET_DIR = Path(".data/devnet")


DEVNET_BLOCK_TIME = 1  # seconds between empty blocks: round deadlines pass on an idle chain


def deployment_path(devnet_dir: Path) -> Path:
    return devnet_dir / "deployment.json"


def genesis_cid(task_name: str) -> str:
    # Imported here: the operator scripts never need torch, and it takes seconds to load.
    from node.learning.local import genesis_params
    from node.learning.tasks import get_task
    from node.store.cid import compute_cid
    from node.update.codec import encode_model

    return compute_cid(encode_model(genesis_params(get_task(task_name))))


def deployed_here(rpc_url: str, path: Path) -> Deployment | None:
    """The deployment in ``path`` if its coordinator exists on the chain at ``rpc_url``."""
    if not path.is_file():
        return None
    deployment = Deployment.load(path)
    code = connect(rpc_url).eth.get_code(deployment.coordinator)  # type: ignore[arg-type]
    return deployment if len(code) > 0 else None


def devnet_up(
    data_dir: Path,
    port: int,
    console: Console,
    task: str = "mnist5k-mlp",
    params: DeployParams | None = None,
) -> tuple[devnet.Devnet, Deployment]:
    data_dir = data_dir.resolve()  # anvil runs from another working directory
    net = devnet.up(data_dir, port=port, block_time=DEVNET_BLOCK_TIME)
    path = deployment_path(data_dir)
    deployment = deployed_here(net.rpc_url, path)
    if deployment is None:
        deployment = deploy(
            net.rpc_url, net.accounts[0][1], genesis_cid(task), task, params or DeployParams(), path
        )
        console.print(
            f"deployed to chain {deployment.chain_id}: coordinator "
            f"{deployment.coordinator}, token {deployment.token}"
        )
    console.print(f"devnet at {net.rpc_url} (chain {net.chain_id}); deployment file {path}")
    table = Table(title="funded accounts (anvil's test keys: never use them elsewhere)")
    table.add_column("#")
    table.add_column("address")
    table.add_column("private key")
    for index, (address, key) in enumerate(net.accounts[:6]):
        table.add_row(str(index), address, key)
    console.print(table)
    return net, deployment


def devnet_status(data_dir: Path, console: Console) -> devnet.DevnetStatus:
    state = devnet.status(data_dir)
    if not state.running:
        console.print(f"devnet in {data_dir} is down (`fedchain devnet up` starts it)")
    else:
        console.print(
            f"devnet up at {state.rpc_url} (pid {state.pid}, chain {state.chain_id}, "
            f"block {state.block_number})"
        )
    return state


def fund_on_devnet(devnet_dir: Path, address: str, tokens: int, eth: int) -> None:
    """Mint FED and send ETH from the devnet's deployer (anvil account 0)."""
    from node.chain.deploy import fund_accounts

    state = devnet.status(devnet_dir)
    if not state.running or not state.rpc_url:
        raise FedchainError(f"no devnet running from {devnet_dir}: `fedchain devnet up` first")
    deployment = Deployment.load(deployment_path(devnet_dir))
    net = devnet.up(devnet_dir.resolve(), port=int(state.rpc_url.rsplit(":", 1)[1]))
    fund_accounts(
        net.rpc_url, deployment, net.accounts[0][1], [address], tokens * TOKEN, eth=eth * 10**18
    )
