"""The explorer's Starlette app: routes, error pages and the sync task its lifespan owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from node.explorer import db as xdb
from node.explorer.render import render
from node.explorer.validate import BadInput, parse_address, parse_round
from node.explorer.views import NotFound, overview

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SYNC_INTERVAL_S = 2.0
CACHE_PAGES = 64


@dataclass
class Settings:
    """What the app needs; ``syncer`` makes the sync object (None: serve the index as is)."""

    index_path: Path
    deployment_file: str
    rpc_url: str
    ipfs_api: str | None = None
    blob_dir: Path | None = None
    syncer: Callable[[], Any] | None = None
    sync_interval: float = SYNC_INTERVAL_S


@dataclass
class State:
    chain_ok: bool = True
    chain_error: str = ""
    synced: bool = False  # one full sync succeeded since start
    db: sqlite3.Connection | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # page data of the index's current version (the sync bumps it when anything changed)
    cache: dict[tuple[str, Any], dict[str, Any]] = field(default_factory=dict)
    cache_version: Any = None


def create_app(settings: Settings) -> Starlette:
    state = State()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.db = xdb.connect(settings.index_path)
        task = None
        executor = None
        if settings.syncer is not None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-sync")
            task = asyncio.create_task(_sync_loop(settings, state, executor))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if executor is not None:
                executor.shutdown(wait=True)
            state.db.close()

    def db() -> sqlite3.Connection:
        assert state.db is not None  # set by the lifespan before any request
        return state.db

    def cached(kind: str, arg: Any, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``build()``, computed once per index version (a shallow copy to add to)."""
        version = xdb.meta(db(), "version")
        if version is None:
            return build()
        if version != state.cache_version:
            state.cache.clear()
            state.cache_version = version
        key = (kind, arg)
        if key not in state.cache:
            if len(state.cache) >= CACHE_PAGES:
                state.cache.pop(next(iter(state.cache)))
            state.cache[key] = build()
        return dict(state.cache[key])

    def chain_view() -> dict[str, Any]:
        return {
            "ok": state.chain_ok,
            "error": state.chain_error,
            "rpc_url": settings.rpc_url,
            "synced_at": xdb.meta(db(), "synced_at"),
            "latest_block": xdb.meta(db(), "latest_block"),
        }

    def unavailable(request: Request, reason: str, api: bool) -> Response:
        message = (
            f"chain unreachable at {settings.rpc_url} and nothing indexed yet ({reason})"
            if not state.chain_ok
            else f"indexing the chain, nothing to show yet ({reason}); this page reloads"
        )
        if api:
            return JSONResponse({"error": message}, status_code=503, headers={"Retry-After": "2"})
        return error_page(request, 503, message)

    def error_page(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        body = render("error.html", status=status, message=message, chain=_safe(chain_view))
        return HTMLResponse(body, status_code=status)

    async def overview_page(request: Request) -> Response:
        api = request.url.path.startswith("/api/")
        try:
            data = cached("overview", None, lambda: overview(db()))
        except NotFound as exc:
            return unavailable(request, str(exc), api)
        data["chain"] = chain_view()
        if api:
            from node.explorer.chart import accuracy_svg, economy_svg

            data["accuracy_svg"] = accuracy_svg(data["accuracy"], data["agreed"])
            data["economy_svg"] = economy_svg(data["economy"])
            return JSONResponse(data)
        return HTMLResponse(render("overview.html", **data))

    async def round_page(request: Request) -> Response:
        from node.explorer.pages import round_page as build

        api = request.url.path.startswith("/api/")
        try:
            n = parse_round(request.path_params["n"])
        except BadInput as exc:
            return error_page(request, 400, str(exc))
        if xdb.meta(db(), "deployment") is None:
            return unavailable(request, "no rounds yet", api)
        try:
            data = cached("round", n, lambda: build(db(), n))
        except NotFound as exc:
            return error_page(request, 404, str(exc))
        data["chain"] = chain_view()
        return JSONResponse(data) if api else HTMLResponse(render("round.html", **data))

    async def participant_page(request: Request) -> Response:
        from node.explorer.pages import participant_page as build

        api = request.url.path.startswith("/api/")
        try:
            address = parse_address(request.path_params["address"])
        except BadInput as exc:
            return error_page(request, 400, str(exc))
        if xdb.meta(db(), "deployment") is None:
            return unavailable(request, "no participants yet", api)
        try:
            data = cached(
                "participant", address, lambda: build(db(), address, settings.deployment_file)
            )
        except NotFound as exc:
            return error_page(request, 404, str(exc))
        data["chain"] = chain_view()
        return JSONResponse(data) if api else HTMLResponse(render("participant.html", **data))

    async def blob(request: Request) -> Response:
        from node.explorer.blobs import serve_blob

        return await serve_blob(request, settings, db(), error_page)

    async def model(request: Request) -> Response:
        from node.explorer.blobs import serve_model

        return await serve_model(request, settings, db(), error_page)

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "chain_ok": state.chain_ok,
                "synced": state.synced,
                "current_round": xdb.meta(db(), "current_round"),
            }
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        if status == 404:
            detail = f"no page at {request.url.path}: try / , /rounds/N or /participants/0x..."
        return error_page(request, status, str(detail))

    routes = [
        Route("/", overview_page),
        Route("/api/overview", overview_page),
        Route("/rounds/{n}", round_page),
        Route("/api/rounds/{n}", round_page),
        Route("/rounds/{n}/model", model),
        Route("/participants/{address}", participant_page),
        Route("/api/participants/{address}", participant_page),
        Route("/blobs/{cid}", blob),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: on_http_error}
    )
    app.state.explorer = state
    return app


def _safe(fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return fn()
    except sqlite3.Error:
        return None


async def _sync_loop(settings: Settings, state: State, executor: ThreadPoolExecutor) -> None:
    from node.errors import ChainError

    loop = asyncio.get_running_loop()
    assert settings.syncer is not None
    syncer = await loop.run_in_executor(executor, settings.syncer)
    try:
        while True:
            try:
                await loop.run_in_executor(executor, syncer.step)
            except ChainError as exc:
                if state.chain_ok:
                    log.warning("chain unreachable: %s (showing the indexed data)", exc)
                state.chain_ok, state.chain_error = False, str(exc)
            except Exception as exc:  # noqa: BLE001 - a bad answer must not end the sync task
                if repr(exc) != state.extra.get("last_failure"):  # the traceback once
                    log.exception(
                        "sync step failed; trying again every %.0f s", settings.sync_interval
                    )
                state.extra["last_failure"] = repr(exc)
            else:
                if not state.chain_ok:
                    log.info("chain reachable again")
                state.chain_ok, state.chain_error, state.synced = True, "", True
                state.extra.pop("last_failure", None)
            await asyncio.sleep(settings.sync_interval)
    finally:
        await asyncio.shield(loop.run_in_executor(executor, syncer.close))
