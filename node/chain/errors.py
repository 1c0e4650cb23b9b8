"""Chain-layer failures. Each message is one line a user can act on."""

from __future__ import annotations

from node.errors import ChainError


class DevnetError(ChainError):
    """The local anvil devnet could not be started, found or stopped."""


class AnvilMissing(DevnetError):
    """The anvil binary is not installed."""


class PortInUse(DevnetError):
    """Something already listens on the devnet's port."""


class ChainUnreachable(ChainError):
    """The JSON-RPC endpoint does not answer."""

    def __init__(self, rpc_url: str) -> None:
        super().__init__(
            f"cannot reach the chain at {rpc_url}: is the devnet up? run `fedchain devnet up`"
        )
        self.rpc_url = rpc_url


class ArtifactMissing(ChainError):
    """Compiled contracts are not there."""


class TransactionRejected(ChainError):
    """A call or transaction reverted; ``error`` names the decoded custom error."""

    def __init__(self, action: str, error: str, args: dict[str, object] | None = None) -> None:
        rendered = ", ".join(f"{k}={_fmt(v)}" for k, v in (args or {}).items())
        super().__init__(f"{action} rejected: {error}({rendered})")
        self.action = action
        self.error = error
        self.error_args = dict(args or {})


class InsufficientFunds(ChainError):
    """The sending account cannot pay for gas or lacks tokens."""


def _fmt(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
