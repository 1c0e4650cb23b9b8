"""A chain client that reads as a watched address and signs nothing."""

from __future__ import annotations

from node.chain.client import ChainClient
from node.chain.deploy import Deployment

# Never used to sign: any well-formed key makes the client.
_READ_ONLY_KEY = "0x" + "11" * 32


class WatchingClient(ChainClient):
    """Reads default to ``watched`` (stake, balances, votes, rewards) instead of the key's."""

    def __init__(self, rpc_url: str, deployment: Deployment, watched: str | None) -> None:
        super().__init__(rpc_url, deployment, _READ_ONLY_KEY)
        self._watched = watched

    @property
    def address(self) -> str:
        return self._watched or super().address
