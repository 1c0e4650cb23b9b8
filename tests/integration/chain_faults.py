"""Shared by the fault tests: 3 real node processes on a real anvil, a TCP proxy in front of
anvil that can take the RPC endpoint down, and what the chain recorded per author."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from node.chain import devnet
from node.chain.client import ChainClient, RoundStatus
from node.chain.deploy import Deployment, DeployParams, fund_accounts
from node.demo.processes import NodeProcess, start_node, stop_all
from node.demo.run import DemoOptions, all_done, prepare_nodes
from node.operator.deploy import DeployRequest
from node.operator.devnet import deployment_path, devnet_up
from node.state import NodeState
from tests.integration.ports import free_port

TOKEN = 10**18
NODES = 3
DUPLICATE_SENDS = ("AlreadyCommitted", "AlreadyVoted", "AlreadyClaimed")


class RpcProxy:
    """Forwards a local port to anvil. ``pause`` cuts every open connection and refuses new
    ones (the RPC endpoint is down, anvil keeps mining) until ``resume``."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._paused = False
        self._closed = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self) -> None:
        self._closed = True
        self.pause()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._paused:
                    client.close()
                    continue
                upstream = socket.create_connection(("127.0.0.1", self._target))
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                for sock in (src, dst):
                    self._open.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()


@dataclass
class Network:
    net: devnet.Devnet
    deployment: Deployment
    devnet_dir: Path
    nodes: list[NodeProcess]

    def chain(self) -> ChainClient:
        """A client straight to anvil (not through any proxy)."""
        return ChainClient(self.net.rpc_url, self.deployment, self.net.accounts[0][1])


@contextlib.contextmanager
def network(
    root: Path,
    rounds: int,
    *,
    rpc_url: Callable[[int], str] | None = None,
    env: dict[int, dict[str, str]] | None = None,
    commit_window: int = 30,
    vote_window: int = 30,
    before_nodes: Callable[[Network], None] | None = None,
    count: int = NODES,
    epochs: int = 1,
    params: DeployParams | None = None,
    request: DeployRequest | None = None,
    config_lines: Callable[[int], str] | None = None,
) -> Iterator[Network]:
    """Devnet, deployment and ``count`` digits-mlp nodes (``max_rounds = rounds``, linger);
    ``rpc_url(anvil_port)`` points the nodes elsewhere, ``env`` adds variables per node,
    ``before_nodes`` runs once the deployment is funded, before any node starts;
    ``params``/``request`` replace the windows and the default deployment (task, training
    options), ``config_lines(index)`` is appended to a node's config file."""
    from rich.console import Console

    opts = DemoOptions(nodes=count, rounds=rounds, task="digits-mlp", data_root=root,
                       epochs=epochs)  # fmt: skip
    params = params or DeployParams(
        commit_window=commit_window, vote_window=vote_window, min_participants=count
    )
    request = request or DeployRequest(task=opts.task)
    net, deployment = devnet_up(opts.devnet_dir, free_port(), Console(quiet=True),
                                params=params, request=request)  # fmt: skip
    nodes: list[NodeProcess] = []
    try:
        keys = net.accounts[1 : count + 1]
        owner = net.accounts[0][1]
        fund_accounts(net.rpc_url, deployment, owner, [a for a, _ in keys], 1000 * TOKEN)
        configs = prepare_nodes(opts, deployment_path(opts.devnet_dir), keys)
        running = Network(net, deployment, opts.devnet_dir, nodes)
        if before_nodes is not None:
            before_nodes(running)
        for index, (address, config) in enumerate(configs):
            with config.open("a") as out:
                if rpc_url is not None:
                    out.write(f'rpc_url = "{rpc_url(net.port)}"\n')
                if config_lines is not None:
                    out.write(config_lines(index))
            nodes.append(start_node(index, address, config.parent, config, (env or {}).get(index)))
        yield running
    finally:
        stop_all(nodes)
        devnet.down(opts.devnet_dir)


def wait_for(
    nodes: list[NodeProcess], done: Callable[[], bool], what: str, timeout: float = 300
) -> None:
    """Poll ``done``; fail at once, with its log, if a node exits meanwhile."""
    deadline = time.monotonic() + timeout
    while not done():
        for node in nodes:
            assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_rounds(nodes: list[NodeProcess], rounds: int, timeout: float = 300) -> None:
    wait_for(nodes, lambda: all_done(nodes, rounds), f"{rounds} rounds", timeout)


def wait_finalized(
    chain: ChainClient, nodes: list[NodeProcess], rounds: int, timeout: float = 180
) -> None:
    """Until round ``rounds`` is finalized on chain and every node recorded it."""

    def done() -> bool:
        finalized = chain.round_info(rounds).status is RoundStatus.FINALIZED
        return finalized and all_done(nodes, rounds)

    wait_for(nodes, done, f"round {rounds}", timeout)


def blob_of(node: NodeProcess, cid: str) -> bytes:
    """A blob from ``node``'s blockstore on disk (the node may be stopped)."""
    import trio

    from node.store.blobs import read_blob
    from node.store.blockstore import BlockStore
    from node.store.cid import parse_cid_str

    data = trio.run(read_blob, BlockStore(node.data_dir / "blocks"), parse_cid_str(cid), 1 << 24)
    assert data is not None, f"{cid} not in node {node.index}'s blockstore"
    return bytes(data)


def records(node: NodeProcess) -> dict[int, dict]:
    state = NodeState(node.data_dir / "state.sqlite")
    try:
        return {int(r["round"]): r for r in state.records()}
    finally:
        state.close()


def sends_per_author(chain: ChainClient) -> Counter[tuple[str, int, str]]:
    """(event, round, author) -> how often the chain recorded it, for every commit, vote
    and reward claim."""
    kinds = {"Committed": "author", "OutcomeSubmitted": "voter", "RewardClaimed": "account"}
    events = chain.round_events(0, chain.block_number())
    return Counter((e.name, e.round, str(e.args[kinds[e.name]])) for e in events if e.name in kinds)


def assert_agreement_and_single_sends(net: Network, rounds: int) -> None:
    """Every round finalized, every node recorded the chain's model and computed the same
    one, and each node committed and voted exactly once per round (claimed at most once)."""
    chain = net.chain()
    sends = sends_per_author(chain)
    for r in range(1, rounds + 1):
        outcome = chain.finalized_outcome(r)
        assert outcome is not None, f"round {r} did not finalize"
        for node in net.nodes:
            mine = records(node)[r]
            assert mine["finalized_cid"] == outcome.model_cid, (node.index, r, mine)
            assert mine["model_cid"] == outcome.model_cid, (node.index, r, mine)
            assert sends[("Committed", r, node.address)] == 1, (node.index, r, sends)
            assert sends[("OutcomeSubmitted", r, node.address)] == 1, (node.index, r, sends)
            assert sends[("RewardClaimed", r, node.address)] <= 1, (node.index, r, sends)
    for node in net.nodes:
        log = node.log_path.read_text()
        assert not [d for d in DUPLICATE_SENDS if d in log], node.log_tail(30)
        metrics = node.status().get("metrics", {})
        assert metrics.get("round_errors_total", 0) == 0, (node.index, metrics)
