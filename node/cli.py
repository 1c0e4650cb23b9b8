"""`fedchain` command line. Expected errors print one line and exit 1, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from node.errors import FedchainError

T = TypeVar("T")
app = typer.Typer(help="fedchain: decentralized federated learning node", no_args_is_help=True)
devnet_app = typer.Typer(help="local Anvil devnet", no_args_is_help=True)
node_app = typer.Typer(help="the node daemon", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")
app.add_typer(node_app, name="node")
console = Console()
err = Console(stderr=True)

DEFAULT_DEVNET = Path(".data/devnet")
DevnetDir = Annotated[Path, typer.Option("--data-dir", help="devnet data directory")]
Port = Annotated[int, typer.Option(help="RPC port on 127.0.0.1")]


def expected_failure(exc: BaseException) -> FedchainError | None:
    """The FedchainError behind ``exc``, looking through trio's exception groups."""
    if isinstance(exc, FedchainError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [expected_failure(e) for e in exc.exceptions]
        if found and all(f is not None for f in found):
            return found[0]
    return None


def expected_errors(fn: Callable[[], T]) -> T:
    """Run ``fn``; an expected failure becomes one line on stderr and exit status 1."""
    try:
        return fn()
    except BaseException as exc:
        failure = expected_failure(exc)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        raise typer.Exit(1) from None


def setup_logging(json_logs: bool, level: str = "INFO") -> None:
    from node.logs import configure

    configure(json_logs=json_logs, level=level)


@devnet_app.command("up")
def devnet_up(data_dir: DevnetDir = DEFAULT_DEVNET, port: Port = 8545) -> None:
    """Start anvil (state kept in DATA_DIR), deploy if needed, print funded accounts."""
    from node.ops import devnet_up as up

    expected_errors(lambda: up(data_dir, port, console))


@devnet_app.command("down")
def devnet_down(data_dir: DevnetDir = DEFAULT_DEVNET) -> None:
    """Stop anvil; its state is saved in DATA_DIR."""
    from node.chain import devnet

    expected_errors(lambda: devnet.down(data_dir))
    console.print("devnet stopped")


@devnet_app.command("status")
def devnet_status(data_dir: DevnetDir = DEFAULT_DEVNET) -> None:
    """Is the devnet running, where, at which block."""
    from node.ops import devnet_status as status

    expected_errors(lambda: status(data_dir, console))


DeploymentFile = Annotated[Path, typer.Option("--deployment", help="deployment file")]
DEFAULT_DEPLOYMENT = DEFAULT_DEVNET / "deployment.json"
KeyFile = Annotated[Path, typer.Option("--key-file", help="file with the 0x private key")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@app.command()
def fund(
    address: Annotated[str, typer.Argument(help="account to fund")],
    tokens: Annotated[int, typer.Option(help="FED to mint to it")] = 1000,
    eth: Annotated[int, typer.Option(help="devnet ETH to send for gas")] = 10,
    data_dir: DevnetDir = DEFAULT_DEVNET,
) -> None:
    """Devnet only: mint FED and send ETH to ADDRESS from the deployer account."""
    from node.ops import fund_on_devnet

    expected_errors(lambda: fund_on_devnet(data_dir, address, tokens, eth))
    console.print(f"funded {address} with {tokens} FED and {eth} ETH")


NodeDir = Annotated[
    Path | None,
    typer.Option("--node-dir", help="the node's data directory (key.hex, state, p2p key)"),
]
OptKeyFile = Annotated[Path | None, typer.Option("--key-file", help="file with the 0x private key")]


def _signer(deployment: Path, key_file: Path | None, node_dir: Path | None) -> Any:
    from node.ops import client, key_file_of

    key = key_file_of(key_file, node_dir)
    if key is None:
        raise FedchainError("give --key-file or --node-dir (whose key.hex signs)")
    return client(deployment, key)


@app.command()
def rounds(
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    round_id: Annotated[int | None, typer.Option("--round", help="detail of one round")] = None,
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    as_json: Json = False,
    watch: Annotated[bool, typer.Option("--watch", help="live view until Ctrl-C")] = False,
) -> None:
    """List rounds: status, commits, votes, model CID, pool, your reward (with a key)."""
    from node.ops import client, key_file_of, print_rounds, round_rows, rounds_table

    def run() -> list[dict[str, Any]]:
        key = key_file_of(key_file, node_dir)
        chain = client(deployment, key)
        return round_rows(chain, round_id, chain.address if key else None, node_dir)

    if not watch:
        print_rounds(expected_errors(run), console, as_json)
        return
    import time

    from rich.live import Live

    with Live(rounds_table(expected_errors(run)), console=console) as live:
        try:
            while True:
                time.sleep(2)
                live.update(rounds_table(expected_errors(run)))
        except KeyboardInterrupt:
            pass


@app.command()
def stake(
    amount: Annotated[str, typer.Argument(help="FED to stake (registers first if needed)")],
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Stake FED: top up, or register with the node's peer id (give --node-dir)."""
    from node.ops import parse_amount, print_result, stake_more

    result = expected_errors(
        lambda: stake_more(_signer(deployment, key_file, node_dir), parse_amount(amount), node_dir)
    )
    print_result(result, console, as_json)


@app.command()
def unstake(
    amount: Annotated[str | None, typer.Argument(help="FED to unstake (default: all)")] = None,
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Request stake out; `fedchain withdraw` after the cool-down."""
    from node.ops import parse_amount, print_result, request_unstake

    result = expected_errors(
        lambda: request_unstake(
            _signer(deployment, key_file, node_dir),
            None if amount is None else parse_amount(amount),
        )
    )
    print_result(result, console, as_json)


@app.command()
def withdraw(
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Withdraw unstaked FED whose cool-down ended."""
    from node.ops import print_result
    from node.ops import withdraw as do_withdraw

    result = expected_errors(lambda: do_withdraw(_signer(deployment, key_file, node_dir)))
    print_result(result, console, as_json)


@app.command()
def balance(
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    as_json: Json = False,
) -> None:
    """Wallet, stake, unbonding (and when it unlocks), unclaimed rewards."""
    from node.ops import balance as get_balance
    from node.ops import print_balance

    result = expected_errors(lambda: get_balance(_signer(deployment, key_file, node_dir), node_dir))
    print_balance(result, console, as_json)


@app.command()
def claim(
    key_file: OptKeyFile = None,
    node_dir: NodeDir = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    round_id: Annotated[int | None, typer.Option("--round", help="only this round")] = None,
    no_voter: Annotated[bool, typer.Option("--no-voter", help="skip voter rewards")] = False,
    as_json: Json = False,
) -> None:
    """Claim every unclaimed reward: contributor (node records) and voter rewards."""
    from node.ops import claim_all, print_result

    result = expected_errors(
        lambda: claim_all(
            _signer(deployment, key_file, node_dir), node_dir, voter=not no_voter, only=round_id
        )
    )
    print_result(result, console, as_json)


PasswordFile = Annotated[
    Path | None, typer.Option(help="file whose first line is the keystore password")
]


@node_app.command("init")
def node_init(
    data_dir: Annotated[Path, typer.Option(help="node data directory to create")],
    deployment: Annotated[Path, typer.Option(help="deployment file")] = Path(
        ".data/devnet/deployment.json"
    ),
    task: Annotated[str, typer.Option(help="learning task")] = "mnist5k-mlp",
    partition_index: Annotated[int, typer.Option(help="this node's data partition")] = 0,
    partition_count: Annotated[int, typer.Option(help="number of partitions")] = 1,
    force: Annotated[bool, typer.Option(help="overwrite an existing config")] = False,
    password_file: PasswordFile = None,
) -> None:
    """Create a data directory with an encrypted key and a commented config file."""
    from node.node_init import init_node

    config, address = expected_errors(
        lambda: init_node(
            data_dir, deployment, task, partition_index, partition_count, force, password_file
        )
    )
    console.print(f"wrote {config}; account {address} (fund it with tokens and ETH to stake)")


@node_app.command("status")
def node_status(
    data_dir: Annotated[Path, typer.Option(help="the running node's data directory")],
    as_json: Json = False,
) -> None:
    """Ask a running node (its local status endpoint) what it is doing."""
    from node.node_status import fetch_status, print_status

    status = expected_errors(lambda: fetch_status(data_dir))
    print_status(status, console, as_json)


@node_app.command("run")
def node_run(
    config: Annotated[Path, typer.Option(help="node config file (TOML)")],
    listen_port: Annotated[int | None, typer.Option(help="libp2p TCP port")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="stop after N rounds (0: never)")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="JSON log lines")] = False,
    password_file: PasswordFile = None,
    ipfs_api: Annotated[
        str | None, typer.Option(help="also pin blobs to a Kubo API, /ip4/127.0.0.1/tcp/5001")
    ] = None,
) -> None:
    """Run the node daemon in the foreground (Ctrl-C stops it cleanly)."""
    import trio

    from node.config import load_config
    from node.daemon import run_node

    flags: dict[str, Any] = {
        "listen_port": listen_port,
        "max_rounds": max_rounds,
        "password_file": password_file,
        "ipfs_api": ipfs_api,
    }
    if log_json:
        flags["log_json"] = True
    cfg = expected_errors(lambda: load_config(config, flags))
    setup_logging(cfg.log_json)
    try:
        expected_errors(lambda: trio.run(run_node, cfg))
    except KeyboardInterrupt:
        err.print("node stopped")


@app.command()
def demo(
    nodes: Annotated[int, typer.Option(min=2, help="node processes")] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="training rounds")] = 5,
    task: Annotated[str, typer.Option(help="mnist5k-mlp or digits-mlp")] = "mnist5k-mlp",
    out: Annotated[Path, typer.Option(help="report directory")] = Path("out/demo"),
    port: Port = 8545,
    data_dir: Annotated[Path, typer.Option(help="devnet/ and demo/ go here")] = Path(".data"),
    byzantine: Annotated[int, typer.Option(min=0, help="how many nodes attack")] = 0,
    attack: Annotated[str, typer.Option(help="attack of the Byzantine nodes")] = "sign_flip",
    rule: Annotated[str, typer.Option(help="aggregation rule, e.g. nnm+trimmed_mean")] = "",
    alpha: Annotated[float, typer.Option(min=0, help="Dirichlet label skew (0: IID)")] = 0.0,
    collude: Annotated[
        bool, typer.Option(help="attackers with the same attack pool data, send one update")
    ] = True,
    stop_devnet: Annotated[bool, typer.Option(help="also stop the devnet at the end")] = False,
) -> None:
    """Devnet + N nodes + R rounds end to end; exit 0 only if every round finalized."""
    from node.demo.run import DemoOptions, run_demo

    setup_logging(False, "WARNING")
    opts = DemoOptions(
        nodes=nodes,
        rounds=rounds,
        task=task,
        out=out,
        port=port,
        data_root=data_dir,
        byzantine=byzantine,
        attack=attack,
        rule=rule or ("nnm+trimmed_mean" if byzantine else "fedavg"),
        alpha=alpha,
        collude=collude,
        stop_devnet=stop_devnet,
    )
    code = expected_errors(lambda: run_demo(opts, console))
    raise typer.Exit(code)
