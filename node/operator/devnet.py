"""The local Anvil devnet: start, deploy, status, fund (devnet only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from node.chain import devnet
from node.errors import ConfigError, FedchainError
from node.operator.format import TOKEN

if TYPE_CHECKING:  # imported where used: `devnet status` must not load eth_utils/web3
    from node.chain.deploy import Deployment, DeployParams
    from node.operator.deploy import DeployRequest

DEFAULT_DEVNET_DIR = Path(".data/devnet")


DEVNET_BLOCK_TIME = 1  # seconds between empty blocks: round deadlines pass on an idle chain


def deployment_path(devnet_dir: Path) -> Path:
    return devnet_dir / "deployment.json"


def genesis_cid(task_name: str) -> str:
    from node.operator.deploy import genesis_cid as cid_of

    return cid_of(task_name)


def deployed_here(rpc_url: str, path: Path) -> Deployment | None:
    """The deployment in ``path`` if its coordinator exists on the chain at ``rpc_url``."""
    from node.chain.deploy import Deployment

    if not path.is_file():
        return None
    deployment = Deployment.load(path)
    code = devnet.rpc_call(rpc_url, "eth_getCode", [deployment.coordinator, "latest"])
    return deployment if len(code) > 2 else None  # "0x" when no contract


def devnet_up(
    data_dir: Path,
    port: int,
    console: Console,
    task: str | None = None,
    params: DeployParams | None = None,
    *,
    request: DeployRequest | None = None,
    accounts: int = devnet.DEFAULT_ACCOUNTS,
    show_accounts: int = 6,
) -> tuple[devnet.Devnet, Deployment]:
    """Start (or find) the devnet of ``data_dir`` and deploy on it unless already done.

    ``request``: what the command line asked for (validated before anything starts); an
    existing deployment that differs in a value given there is an error, never reused or
    wiped. ``task``/``params`` (callers in code) deploy exactly those when nothing is
    deployed yet.
    """
    from node.operator.deploy import (
        DeployRequest,
        check_task,
        deploy_plan,
        differences,
        plan_deployment,
        print_deployment,
    )

    request = request or DeployRequest(task=task)
    plan = plan_deployment(request, params)
    data_dir = data_dir.resolve()  # anvil runs from another working directory
    path = deployment_path(data_dir)
    if request.task is not None:
        check_task(plan.task)  # an unknown task fails before anvil starts
    was_running = devnet.status(data_dir).running
    net = devnet.up(data_dir, port=port, block_time=DEVNET_BLOCK_TIME, accounts=accounts)
    deployment = deployed_here(net.rpc_url, path)
    if deployment is not None:
        changed = differences(deployment, request)
        if changed:
            if not was_running:
                devnet.down(data_dir)
            raise ConfigError(
                f"the devnet in {data_dir} already has a deployment with {'; '.join(changed)}: "
                "leave out those flags to use it, or start a fresh chain with another "
                f"--data-dir (or `fedchain devnet down --data-dir {data_dir}` and delete it)"
            )
    else:
        if path.is_file():
            console.print(f"{path} names a coordinator this chain lacks: deploying anew")
        deployment = deploy_plan(net.rpc_url, net.accounts[0][1], plan, path)
        console.print(f"deployed to chain {deployment.chain_id}")
    print_deployment(deployment, path, console)
    console.print(f"devnet at {net.rpc_url} (chain {net.chain_id}), {len(net.accounts)} accounts")
    if show_accounts:
        table = Table(title="funded accounts (anvil's test keys: never use them elsewhere)")
        table.add_column("#")
        table.add_column("address")
        table.add_column("private key")
        for index, (address, key) in enumerate(net.accounts[:show_accounts]):
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
    """Transfer FED and send ETH from the devnet's deployer (anvil account 0, which
    received the token's whole supply)."""
    from eth_utils import is_address

    from node.chain.deploy import fund_accounts

    if not is_address(address):
        raise ConfigError(
            f"{address!r} is not an Ethereum address: 0x and 40 hex digits "
            "(with a valid checksum if mixed case), e.g. from `fedchain node init`"
        )
    if tokens < 0 or eth < 0:
        raise ConfigError("--tokens and --eth must be >= 0")
    state = devnet.status(devnet_dir)
    if not state.running or not state.rpc_url:
        raise FedchainError(f"no devnet running from {devnet_dir}: `fedchain devnet up` first")
    from node.chain.deploy import Deployment

    deployment = Deployment.load(deployment_path(devnet_dir))
    net = devnet.up(devnet_dir.resolve(), port=int(state.rpc_url.rsplit(":", 1)[1]))
    fund_accounts(
        net.rpc_url, deployment, net.accounts[0][1], [address], tokens * TOKEN, eth=eth * 10**18
    )
