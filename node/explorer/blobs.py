"""``/blobs/{cid}`` and ``/rounds/{n}/model``: content fetched by CID (the explorer's own
cache, the registered peers over libp2p, a Kubo API), checked against the CID before it
is served, and the round's model exported by the model-export path."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from node.errors import ContentError, FedchainError
from node.explorer import db as xdb
from node.explorer.validate import BadInput, parse_cid, parse_round

if TYPE_CHECKING:
    from node.explorer.app import Settings

ErrorPage = Callable[[Request, int, str], Response]
MODEL_TYPES = {"safetensors": "application/octet-stream", "pt": "application/octet-stream"}
PEER_TIMEOUT_S = 20.0


def fetch_blob(cid: str, settings: Settings, peers: list[dict[str, Any]]) -> bytes:
    """The blob ``cid`` from the cache, else from the peers or Kubo (then cached)."""
    from node.operator.model import Peer, Sources, check_cid, fetch_verified

    cached = settings.blob_dir / cid if settings.blob_dir else None
    if cached is not None and cached.is_file():
        try:
            return check_cid(cid, cached.read_bytes(), "the explorer's cache")
        except ContentError:
            cached.unlink()  # damaged on disk: fetch it again
    known = [Peer(p["peer_id"], list(p["addrs"])) for p in peers if p["active"] and p["addrs"]]
    sources = Sources(
        peers=(lambda: known) if known else None, ipfs_api=settings.ipfs_api, timeout=PEER_TIMEOUT_S
    )
    if sources.peers is None and not sources.ipfs_api:
        raise FedchainError("no source for blobs: no registered peer and no --ipfs-api")
    data, _ = fetch_verified(cid, sources)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(cached)
    return data


async def serve_blob(
    request: Request, settings: Settings, db: sqlite3.Connection, error_page: ErrorPage
) -> Response:
    try:
        cid = parse_cid(request.path_params["cid"])
    except BadInput as exc:
        return error_page(request, 400, str(exc))
    peers = xdb.participants(db)
    try:
        data = await asyncio.to_thread(fetch_blob, cid, settings, peers)
    except FedchainError as exc:
        return error_page(request, 404, f"blob {cid} not available: {exc}")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{cid}.bin"', "X-Content-Cid": cid},
    )


async def serve_model(
    request: Request, settings: Settings, db: sqlite3.Connection, error_page: ErrorPage
) -> Response:
    from node.operator.model import ModelRef

    try:
        n = parse_round(request.path_params["n"])
    except BadInput as exc:
        return error_page(request, 400, str(exc))
    fmt = request.query_params.get("format", "safetensors")
    if fmt not in MODEL_TYPES:
        return error_page(request, 400, f"format {fmt[:40]!r}: use safetensors or pt")
    row = xdb.round_row(db, n)
    if row is None:
        return error_page(request, 404, f"round {n} is not known")
    if row["status"] != "finalized" or not row["model_cid"]:
        return error_page(request, 404, f"round {n} is {row['status']}: it has no model")
    deployment = xdb.meta(db, "deployment") or {}
    ref = ModelRef(
        n,
        row["model_cid"],
        deployment["task_id"],
        deployment["chain_id"],
        deployment["coordinator"],
    )
    peers = xdb.participants(db)
    try:
        data = await asyncio.to_thread(_export, ref, fmt, settings, peers)
    except FedchainError as exc:
        return error_page(request, 404, f"model of round {n} not available: {exc}")
    return Response(
        data,
        media_type=MODEL_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="round-{n}.{fmt}"',
            "X-Content-Cid": ref.cid,
        },
    )


def _export(ref: Any, fmt: str, settings: Settings, peers: list[dict[str, Any]]) -> bytes:
    from node.operator.model_export import export_model

    blob = fetch_blob(ref.cid, settings, peers)
    with tempfile.TemporaryDirectory(prefix="fedchain-explorer-") as tmp:
        out = Path(tmp) / f"model.{fmt}"
        export_model(ref, blob, fmt, out)
        return out.read_bytes()
