"""`fedchain model export|get`: take the trained model away."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from node.cli.app import DEFAULT_DEPLOYMENT, DeploymentFile, Json, app, console, expected_errors
from node.errors import ConfigError, ContentError

if TYPE_CHECKING:
    from node.chain.client import ChainClient
    from node.operator.model import Peer

model_app = typer.Typer(
    help="the trained model: export a finalized round's model, fetch a blob by CID",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")

Out = Annotated[Path, typer.Option("--out", help="file to write")]
RpcUrl = Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL (default: the deployment's)")]
ModelNodeDir = Annotated[
    Path | None,
    typer.Option("--node-dir", help="a node's data directory: read its block store first"),
]
IpfsApi = Annotated[
    str | None,
    typer.Option("--ipfs-api", help="last resort: a Kubo RPC API, e.g. /ip4/127.0.0.1/tcp/5001"),
]
PeerAddrs = Annotated[
    list[str] | None,
    typer.Option(
        "--peer",
        help="fetch from this peer (/ip4/HOST/tcp/PORT/p2p/ID; repeatable) "
        "instead of the registered participants",
    ),
]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds to wait for peers")]

EXPORT_EXAMPLES = """Examples:

  fedchain model export --latest --format pt --out model.pt --node-dir nodes/a

  fedchain model export --round 3 --out model.safetensors

  fedchain model export --final --out final.pt --node-dir nodes/a

  fedchain model export --latest --out model.onnx --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW..

Load model.pt: model = get_task(TASK).build_model();
model.load_state_dict(torch.load("model.pt", weights_only=True)["state_dict"])
(docs/model-export.md has every format)."""

GET_EXAMPLES = """Examples:

  fedchain model get bafkrei... --out model.bin --node-dir nodes/a

  fedchain model get bafkrei... --out model.bin --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...

  fedchain model get bafkrei... --out model.bin --ipfs-api /ip4/127.0.0.1/tcp/5001"""


def _peer_source(
    peer_addrs: list[str] | None, chain: ChainClient | None
) -> Callable[[], list[Peer]] | None:
    """The --peer addresses, else (asked only when needed) the registered participants."""
    from node.operator.model import parse_peer, registered_peers

    if peer_addrs:
        peers = [parse_peer(addr) for addr in peer_addrs]
        return lambda: peers
    if chain is None:
        return None
    return lambda: registered_peers(chain)


def _write_atomically(out: Path, data: bytes) -> None:
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@model_app.command("export", epilog=EXPORT_EXAMPLES)
def export(
    out: Out,
    round_id: Annotated[int | None, typer.Option("--round", help="a finalized round")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="the latest finalized round")] = False,
    final: Annotated[
        bool,
        typer.Option("--final", help="the final model (the deployment finished by its stop rule)"),
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="pt, safetensors or onnx (default: from --out's suffix)"),
    ] = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    node_dir: ModelNodeDir = None,
    ipfs_api: IpfsApi = None,
    peer: PeerAddrs = None,
    timeout: Timeout = 60.0,
    as_json: Json = False,
) -> None:
    """Write a finalized round's model as a file plain PyTorch / onnxruntime loads.

    Model CID from the chain; blob from --node-dir, else peers, else --ipfs-api.

    Refused unless its bytes hash to the CID the chain finalized.
    """
    from node.operator.keys import client
    from node.operator.model import (
        Sources,
        fetch_verified,
        resolve_final_model,
        resolve_model,
    )
    from node.operator.model_export import export_model, pick_format
    from node.operator.output import print_result

    def run() -> dict[str, Any]:
        if latest + final + (round_id is not None) != 1:
            raise ConfigError("give exactly one of --round N, --latest or --final")
        chosen = pick_format(fmt, out)
        chain = client(deployment, None, rpc_url)
        if final:
            ref = resolve_final_model(chain)
        else:
            ref = resolve_model(chain, None if latest else round_id)
        sources = Sources(node_dir, _peer_source(peer, chain), ipfs_api, timeout)
        blob, source = fetch_verified(ref.cid, sources)
        size = export_model(ref, blob, chosen, out)
        return {
            "message": f"wrote {out} ({chosen}, {size} bytes): round {ref.round} of task "
            f"{ref.task_id}, model {ref.cid} (fetched from {source}, CID checked)",
            "file": str(out),
            "format": chosen,
            "bytes": size,
            "source": source,
            "round": ref.round,
            "cid": ref.cid,
            "task_id": ref.task_id,
            "chain_id": ref.chain_id,
            "coordinator": ref.coordinator,
        }

    print_result(expected_errors(run), console, as_json)


@model_app.command("get", epilog=GET_EXAMPLES)
def get(
    cid: Annotated[str, typer.Argument(help="CID of the blob (bafy.../bafk...)")],
    out: Out,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    rpc_url: RpcUrl = "",
    node_dir: ModelNodeDir = None,
    ipfs_api: IpfsApi = None,
    peer: PeerAddrs = None,
    timeout: Timeout = 60.0,
    as_json: Json = False,
) -> None:
    """Write the raw blob CID (internal model format) to a file, checked against CID.

    Peers: --peer, else the registered participants (when the deployment file exists).
    """
    from node.operator.keys import client
    from node.operator.model import Sources, fetch_verified
    from node.operator.output import print_result
    from node.store.cid import parse_cid_str

    def run() -> dict[str, Any]:
        try:
            parse_cid_str(cid)
        except ContentError as exc:
            raise ConfigError(
                f"invalid CID {cid!r} ({exc}): give a bafy.../bafk... CID as `fedchain rounds` "
                "shows it"
            ) from None
        chain = None
        if not peer and deployment.is_file():
            chain = client(deployment, None, rpc_url)
        sources = Sources(node_dir, _peer_source(peer, chain), ipfs_api, timeout)
        if node_dir is None and sources.peers is None and not ipfs_api:
            raise ConfigError(
                f"nowhere to fetch {cid} from: give --node-dir, --peer MULTIADDR, --ipfs-api "
                f"or a --deployment whose participants serve it ({deployment} does not exist)"
            )
        blob, source = fetch_verified(cid, sources)
        _write_atomically(out, blob)
        return {
            "message": f"wrote {out} ({len(blob)} bytes, CID {cid} checked; from {source})",
            "file": str(out),
            "bytes": len(blob),
            "cid": cid,
            "source": source,
        }

    print_result(expected_errors(run), console, as_json)
