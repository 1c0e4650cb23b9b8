"""A finalized model's blob: which CID the chain finalized, and its bytes from wherever.

``resolve_model`` reads the CID a round finalized to; ``fetch_verified`` gets the blob
from a node's local block store, else from peers over libp2p (``/fedchain/blocks/1``,
then Bitswap), else from a Kubo HTTP API, and accepts it only if its bytes hash back
to that CID (``compute_cid``). Used by ``fedchain model`` and fit for any other reader.
Heavy modules (libp2p, trio, ipfshttpclient) are imported only where a source needs them.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from node.errors import ConfigError, ContentError, FedchainError
from node.store.cid import compute_cid, parse_cid_str

if TYPE_CHECKING:
    from node.chain.client import ChainClient

MAX_MODEL_SIZE = 2**30  # a declared blob size past this is refused before any download
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class ModelRef:
    """A model the chain finalized: where it belongs and its content address."""

    round: int
    cid: str
    task_id: str
    chain_id: int
    coordinator: str

    def metadata(self) -> dict[str, str]:
        """What export formats record next to the weights (all strings)."""
        return {
            "fedchain.task_id": self.task_id,
            "fedchain.round": str(self.round),
            "fedchain.cid": self.cid,
            "fedchain.chain_id": str(self.chain_id),
            "fedchain.coordinator": self.coordinator,
        }


@dataclass(frozen=True)
class Peer:
    peer_id: str
    addrs: list[str]


@dataclass(frozen=True)
class Sources:
    """Where to look for a blob, in this order; empty fields are skipped."""

    node_dir: Path | None = None
    peers: Callable[[], list[Peer]] | None = None  # called only if the node dir lacks it
    ipfs_api: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def latest_finalized_round(chain: ChainClient) -> int:
    """The newest round that finalized; ConfigError if none did yet."""
    from node.chain.client import RoundStatus

    for r in range(chain.current_round(), 0, -1):
        if chain.round_info(r).status is RoundStatus.FINALIZED:
            return r
    raise ConfigError(
        f"no round has finalized yet (genesis model {chain.genesis_model_cid()}; "
        "get it with `fedchain model get CID --out FILE`)"
    )


def resolve_model(chain: ChainClient, round_id: int | None) -> ModelRef:
    """The model round ``round_id`` (None: the latest finalized round) finalized to."""
    current = chain.current_round()
    if round_id is not None and not 1 <= round_id <= current:
        raise ConfigError(f"round {round_id} does not exist (rounds 1..{current}); try --latest")
    r = latest_finalized_round(chain) if round_id is None else round_id
    outcome = chain.finalized_outcome(r)
    if outcome is None:
        status = chain.round_info(r).status.name.lower()
        raise ConfigError(f"round {r} is {status}, not finalized: it has no model; try --latest")
    deployment = chain.deployment
    return ModelRef(
        r, outcome.model_cid, deployment.task_id, chain.chain_id, deployment.coordinator
    )


def resolve_final_model(chain: ChainClient) -> ModelRef:
    """The final model: the one the round that finished the deployment (the chain's stop
    rule) finalized to; ConfigError while the deployment still runs."""
    end = chain.deployment_end()
    if end is None:
        raise ConfigError(
            "the deployment has not finished: the chain's stop rule (target metric, "
            "patience, max rounds) has not fired yet; use --latest or --round N"
        )
    deployment = chain.deployment
    return ModelRef(
        end.round, end.model_cid, deployment.task_id, chain.chain_id, deployment.coordinator
    )


def parse_peer(multiaddr: str) -> Peer:
    """``/ip4/1.2.3.4/tcp/4001/p2p/12D3KooW...`` as a peer id and its address."""
    addr, sep, peer_id = multiaddr.rpartition("/p2p/")
    if not sep or not addr or not peer_id or "/" in peer_id:
        raise ConfigError(
            f"--peer {multiaddr!r} needs the form /ip4/HOST/tcp/PORT/p2p/PEER_ID "
            "(a node prints it at start: 'p2p: <id> listening on ...')"
        )
    return Peer(peer_id, [addr])


def registered_peers(chain: ChainClient) -> list[Peer]:
    """Every active registered participant's peer id and addresses."""
    return [Peer(p.peer_id, list(p.addrs)) for p in chain.participants() if p.active and p.addrs]


def check_cid(cid: str, data: bytes, source: str) -> bytes:
    """``data`` if it hashes back to ``cid``; ContentError naming ``source`` otherwise."""
    got = compute_cid(data)
    if got != cid:
        raise ContentError(
            f"the blob from {source} is not {cid}: its {len(data)} bytes hash to {got}; "
            "refusing it (the source is corrupt or lying)"
        )
    return data


def fetch_verified(cid: str, sources: Sources) -> tuple[bytes, str]:
    """The blob ``cid`` and the source it came from, checked against ``cid``.

    Sources are tried in order (local store, peers, Kubo); a source that does not have
    it is skipped, one that serves wrong bytes is refused. FedchainError listing what
    each source said when none delivered.
    """
    parse_cid_str(cid)
    attempts: list[tuple[str, Callable[[], bytes | None]]] = []
    if sources.node_dir is not None:
        node_dir = sources.node_dir
        attempts.append((f"the block store of {node_dir}", lambda: _from_local(node_dir, cid)))
    if sources.peers is not None:
        peers = sources.peers
        attempts.append(("peers over libp2p", lambda: _from_peers(cid, peers(), sources.timeout)))
    if sources.ipfs_api:
        api = sources.ipfs_api
        attempts.append((f"the Kubo API at {api}", lambda: _from_kubo(cid, api, sources.timeout)))
    if not attempts:
        raise ConfigError(
            f"nowhere to fetch {cid} from: give --node-dir, --peer MULTIADDR or --ipfs-api"
        )
    failures = []
    for name, attempt in attempts:
        try:
            data = attempt()
        except ContentError as exc:
            failures.append(f"{name}: bad content ({exc})")
            continue
        except FedchainError as exc:
            failures.append(f"{name}: {exc}")
            continue
        if data is None:
            failures.append(f"{name}: not there")
            continue
        return check_cid(cid, data, name), name
    raise FedchainError(f"cannot fetch {cid}: " + "; ".join(failures))


def _from_local(node_dir: Path, cid: str) -> bytes | None:
    import trio

    from node.store.blobs import read_blob
    from node.store.blockstore import BlockStore

    blocks = node_dir / "blocks"
    if not blocks.is_dir():
        raise ConfigError(f"{node_dir} has no blocks/ directory (is it a node's data dir?)")
    store = BlockStore(blocks)
    return trio.run(read_blob, store, parse_cid_str(cid), MAX_MODEL_SIZE)


def _from_peers(cid: str, peers: list[Peer], timeout: float) -> bytes:
    """Over a short-lived libp2p host with a throwaway identity and block store."""
    if not peers:
        raise FedchainError("no peers known (none registered; give --peer MULTIADDR)")
    import trio

    from node.p2p.logs import route_libp2p_logs
    from node.p2p.network import open_network

    route_libp2p_logs()  # through the root handlers, i.e. into _logs_kept's collector

    async def fetch(data_dir: Path, warnings: list[str]) -> bytes:
        async with open_network(data_dir=data_dir, max_blob_size=MAX_MODEL_SIZE) as net:
            reached = [p.peer_id for p in peers if await net.connect(p.peer_id, p.addrs)]
            if not reached:
                last = f" (last: {warnings[-1].split('; next dial')[0]})" if warnings else ""
                raise FedchainError(f"none of the {len(peers)} peer(s) could be reached{last}")
            return await net.fetch_blob(cid, reached, timeout)

    with tempfile.TemporaryDirectory(prefix="fedchain-fetch-") as tmp, _logs_kept() as warnings:
        try:
            return trio.run(fetch, Path(tmp), warnings)
        except BaseExceptionGroup as group:  # trio nurseries wrap what the fetch raised
            expected, rest = group.split(FedchainError)
            if expected is None or rest is not None:
                raise
            raise _first_leaf(expected) from None


def _first_leaf(group: BaseExceptionGroup[FedchainError]) -> FedchainError:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


@contextmanager
def _logs_kept() -> Iterator[list[str]]:
    """Keep the network's log lines off the terminal (a command prints one result or one
    error line); its warnings are collected for the error message instead."""
    collected: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and record.name.startswith("node."):
                collected.append(record.getMessage())

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [Collect()]
    try:
        yield collected
    finally:
        root.handlers[:] = saved


def _from_kubo(cid: str, api: str, timeout: float) -> bytes:
    """Block by block through ``block/get``, so layout and size are checked as for peers."""
    import ipfshttpclient
    import trio

    from node.store.blobs import assemble

    try:
        kubo = ipfshttpclient.Client(addr=api, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - bad multiaddr, unsupported scheme
        raise ConfigError(f"--ipfs-api {api!r}: {exc}") from None

    async def blocks(cids: list[bytes]) -> dict[bytes, bytes]:
        from node.types import cid_from_bytes

        out = {}
        for raw in cids:
            try:
                out[raw] = bytes(kubo.block.get(cid_from_bytes(raw)))
            except Exception as exc:  # noqa: BLE001 - connection, HTTP and API errors
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                raise FedchainError(reason) from None
        return out

    try:
        return trio.run(assemble, parse_cid_str(cid), blocks, MAX_MODEL_SIZE)
    finally:
        kubo.close()
