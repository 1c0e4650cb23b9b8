"""`fedchain doctor`: each thing a node needs, checked in order, with the fix when missing.

Checks stop descending where a failure makes the next ones meaningless (no RPC: no
on-chain checks), and say "skip" for those. Nothing here signs or needs a password.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.errors import FedchainError

if TYPE_CHECKING:
    from node.chain.client import ChainClient
    from node.chain.deploy import Deployment

READ_ONLY_KEY = "0x" + "11" * 32  # views need no secret: any well-formed key signs nothing


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | FAIL | skip
    detail: str
    fix: str = ""


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "FAIL", detail, fix)


def _skip(name: str, detail: str) -> Check:
    return Check(name, "skip", detail)


def toolchain_checks() -> list[Check]:
    from node.chain.artifacts import OUT_DIR
    from node.chain.devnet import DEVNET_DIR, anvil_binary

    checks = []
    try:
        checks.append(_ok("anvil", str(anvil_binary())))
    except FedchainError as exc:
        checks.append(_fail("anvil", str(exc).split(":")[0], "make setup (or `npm ci` in devnet/)"))
    forge = DEVNET_DIR / "node_modules" / ".bin" / "forge"
    if forge.is_file() and os.access(forge, os.X_OK):
        checks.append(_ok("forge", str(forge)))
    else:
        checks.append(_fail("forge", f"{forge} missing", "make setup (or `npm ci` in devnet/)"))
    missing = [
        name
        for name in ("FedToken", "FedCoordinator")
        if not (OUT_DIR / f"{name}.sol" / f"{name}.json").is_file()
    ]
    if missing:
        checks.append(
            _fail("contracts", f"not compiled: {', '.join(missing)}", "make setup (forge build)")
        )
    else:
        checks.append(_ok("contracts", f"compiled in {OUT_DIR}"))
    return checks


def devnet_check(devnet_dir: Path, deployment: Deployment | None) -> Check:
    from node.chain import devnet

    state = devnet.status(devnet_dir)
    if state.running:
        return _ok("devnet", f"{state.rpc_url} (pid {state.pid}, block {state.block_number})")
    if deployment is not None and not any(
        host in deployment.rpc_url for host in ("127.0.0.1", "localhost")
    ):
        return _skip("devnet", f"not used: the deployment is on {deployment.rpc_url}")
    return _fail(
        "devnet",
        f"no devnet running from {devnet_dir}",
        f"fedchain devnet up --data-dir {devnet_dir}",
    )


def deployment_check(path: Path) -> tuple[Check, Deployment | None]:
    from node.chain.deploy import Deployment

    try:
        deployment = Deployment.load(path)
    except FedchainError as exc:
        return _fail("deployment", str(exc), "fedchain devnet up (or fedchain deploy)"), None
    rule = deployment.rule or "per-node config"
    return _ok(
        "deployment",
        f"{path}: task {deployment.task_spec}, rule {rule}, chain {deployment.chain_id}",
    ), deployment


def task_check(deployment: Deployment) -> Check:
    from node.learning.tasks import get_task

    try:
        task = get_task(deployment.task_spec)
    except FedchainError as exc:
        return _fail("task", str(exc), "install the task's package (docs/tasks.md)")
    if task.name != deployment.task_id:
        return _fail(
            "task",
            f"{deployment.task_spec} loads task {task.name!r}, deployed {deployment.task_id!r}",
            "install the task version the deployment was made with",
        )
    return _ok("task", f"{deployment.task_spec} loads")


def chain_checks(rpc_url: str, deployment: Deployment) -> tuple[list[Check], bool]:
    """RPC reachable, same chain, coordinator code there; (checks, usable)."""
    from node.chain.devnet import rpc_call

    try:
        chain_id = int(rpc_call(rpc_url, "eth_chainId"), 16)
    except FedchainError:
        fix = "fedchain devnet up" if "127.0.0.1" in rpc_url else "check the RPC URL / network"
        return [_fail("rpc", f"{rpc_url} does not answer", fix)], False
    if chain_id != deployment.chain_id:
        return [
            _fail(
                "rpc",
                f"{rpc_url} is chain {chain_id}, the deployment is on {deployment.chain_id}",
                "use the deployment's RPC URL (--rpc-url)",
            )
        ], False
    checks = [_ok("rpc", f"{rpc_url} (chain {chain_id})")]
    code = rpc_call(rpc_url, "eth_getCode", [deployment.coordinator, "latest"])
    if len(code) <= 2:
        checks.append(
            _fail(
                "coordinator",
                f"no contract at {deployment.coordinator} on chain {chain_id}",
                "the chain was reset: redeploy (`fedchain devnet up` on a fresh --data-dir)",
            )
        )
        return checks, False
    checks.append(_ok("coordinator", f"code at {deployment.coordinator}"))
    return checks, True


def participants_check(chain: ChainClient) -> Check:
    active = sum(1 for p in chain.participants() if p.active)
    need = chain.params().min_participants
    if active >= need:
        return _ok("participants", f"{active} active, {need} needed to open a round")
    return _fail(
        "participants",
        f"{active} active, {need} needed: rounds wait",
        f"start {need - active} more funded node(s) (fedchain node run)",
    )


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _node_pid(node_dir: Path) -> int | None:
    """The pid of the node running from ``node_dir`` per its status.json, if alive."""
    try:
        status = json.loads((node_dir / "status.json").read_text())
        pid = int(status["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if str(status.get("phase", "")).startswith("stopped"):  # also "stopped (finished: ...)"
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def port_checks(node_dir: Path, host: str, configured: int) -> list[Check]:
    pid = _node_pid(node_dir)
    port = configured
    if not port:
        try:
            port = int((node_dir / "listen.port").read_text())
        except (OSError, ValueError):
            return [_ok("p2p port", "any free port (listen_port = 0)")]
    if _port_free(host, port):
        return [_ok("p2p port", f"{host}:{port} free")]
    if pid is not None:
        return [_ok("p2p port", f"{host}:{port} in use by this node (pid {pid})")]
    if configured:
        return [
            _fail(
                "p2p port",
                f"{host}:{port} is in use by another process",
                "stop it, or set listen_port in config.toml (0: any free port)",
            )
        ]
    return [_ok("p2p port", f"{host}:{port} (last used) is taken: the node picks a free one")]


def account_checks(node_dir: Path, chain: ChainClient | None) -> list[Check]:
    from node.config import load_config
    from node.keystore import KEYSTORE_FILE, keystore_address

    checks: list[Check] = []
    try:
        cfg = load_config(node_dir / "config.toml", environ={})
    except FedchainError as exc:
        return [_fail("node config", str(exc), "fedchain node init --data-dir DIR")]
    checks.append(_ok("node config", f"{node_dir / 'config.toml'} (task {cfg.task})"))
    try:
        address = keystore_address(node_dir / KEYSTORE_FILE)
    except FedchainError as exc:
        return [*checks, _fail("keystore", str(exc), "fedchain node init --data-dir DIR")]
    checks.append(_ok("keystore", f"account {address}"))
    checks += port_checks(node_dir, cfg.listen_host, cfg.listen_port)
    if chain is None:
        return [*checks, _skip("account", "chain not reachable")]
    from node.operator.format import fed

    eth = chain.eth_balance(address)
    me = chain.participant(address)
    stake = me.stake if me is not None else 0
    tokens = chain.token_balance(address)
    needed = max(cfg.stake, chain.params().min_stake)
    if eth == 0 or (stake == 0 and tokens < needed):
        checks.append(
            _fail(
                "funded",
                f"{eth / 10**18:g} ETH, {fed(tokens)}, need gas and {fed(needed)}",
                f"fedchain fund {address} (devnet) or send ETH and FED to it",
            )
        )
    else:
        checks.append(_ok("funded", f"{eth / 10**18:g} ETH, {fed(tokens)} in the wallet"))
    if me is None:
        checks.append(
            _fail("registered", "not registered", "fedchain node run (stakes and registers)")
        )
    elif not me.active:
        checks.append(
            _fail(
                "active",
                f"registered, stake {fed(stake)}, not active (below the minimum stake?)",
                f"fedchain stake AMOUNT --node-dir {node_dir}",
            )
        )
    else:
        checks.append(_ok("registered", f"active with stake {fed(stake)}"))
    return checks


def run_checks(
    devnet_dir: Path,
    deployment_file: Path,
    node_dir: Path | None,
    rpc_url: str = "",
    explicit_deployment: Path | None = None,
) -> list[Check]:
    """Every check, in order (see the module docstring). The deployment checked is
    ``explicit_deployment``, else the node's, else ``deployment_file``."""
    checks = toolchain_checks()
    if explicit_deployment is not None:
        deployment_file = explicit_deployment
    elif node_dir is not None:
        node_cfg = _node_deployment(node_dir)
        if node_cfg is not None:
            deployment_file = node_cfg
    deployment_result, deployment = deployment_check(deployment_file)
    checks.append(devnet_check(devnet_dir, deployment))
    checks.append(deployment_result)
    chain: ChainClient | None = None
    if deployment is not None:
        checks.append(task_check(deployment))
        chain_results, usable = chain_checks(rpc_url or deployment.rpc_url, deployment)
        checks += chain_results
        if usable:
            chain = _guarded(lambda: _client(rpc_url or deployment.rpc_url, deployment))
        if chain is not None:
            checks.append(participants_check(chain))
    if node_dir is not None:
        checks += account_checks(node_dir, chain)
    return checks


def _guarded(fn: Callable[[], ChainClient]) -> ChainClient | None:
    try:
        return fn()
    except FedchainError:
        return None


def _client(rpc_url: str, deployment: Deployment) -> ChainClient:
    from node.chain.client import ChainClient

    return ChainClient(rpc_url, deployment, READ_ONLY_KEY)


def _node_deployment(node_dir: Path) -> Path | None:
    """The deployment file a node's config names, if the config reads."""
    from node.config import load_config

    try:
        return load_config(node_dir / "config.toml", environ={}).deployment
    except FedchainError:
        return None


def print_checks(checks: list[Check], console: Any, as_json: bool) -> None:
    from rich.table import Table

    if as_json:
        console.print_json(json.dumps([asdict(c) for c in checks]))
        return
    table = Table(title="fedchain doctor")
    for column in ("check", "", "detail", "fix"):
        table.add_column(column)
    for c in checks:
        mark = {"ok": "[green]ok[/]", "FAIL": "[red]FAIL[/]"}.get(c.status, "[dim]skip[/]")
        table.add_row(c.name, mark, c.detail, c.fix)
    console.print(table)
    failed = [c.name for c in checks if c.status == "FAIL"]
    console.print(
        f"[red]{len(failed)} problem(s): {', '.join(failed)}[/]" if failed else "all good"
    )
