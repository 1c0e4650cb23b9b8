"""Settings from the command line, and uvicorn serving the app on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

from node.errors import ConfigError
from node.explorer.app import Settings, create_app

HOST = "127.0.0.1"


def prepare(
    deployment_file: Path,
    rpc_url: str,
    nodes: list[str],
    ipfs_api: str | None,
    data_dir: Path | None,
) -> Settings:
    """Settings for serving ``deployment_file``'s deployment (ConfigError if unreadable)."""
    from node.chain.deploy import Deployment
    from node.operator.index import cache_root
    from node.operator.readonly import WatchingClient

    deployment = Deployment.load(deployment_file)
    url = rpc_url or deployment.rpc_url
    if data_dir is None:
        data_dir = (
            cache_root() / "explorer" / str(deployment.chain_id) / deployment.coordinator.lower()
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    index_path = data_dir / "index.sqlite"

    def syncer():  # type: ignore[no-untyped-def]
        from node.explorer.sync import Syncer

        return Syncer(WatchingClient(url, deployment, None), index_path, nodes)

    return Settings(
        index_path=index_path,
        deployment_file=str(deployment_file),
        rpc_url=url,
        ipfs_api=ipfs_api,
        blob_dir=data_dir / "blobs",
        syncer=syncer,
    )


def serve(settings: Settings, port: int) -> None:
    """Serve until Ctrl-C; ConfigError when the port is taken."""
    import uvicorn

    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise ConfigError(f"port {port} on {HOST} is not free ({exc}): give --port") from None
    uvicorn.run(create_app(settings), host=HOST, port=port, log_level="warning", lifespan="on")
