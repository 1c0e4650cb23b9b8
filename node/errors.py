"""One root error type; each layer's errors derive from it.

Errors derived from ``FedchainError`` are *expected* failures: the CLI prints their
message on one line and exits non-zero without a traceback.
"""


class FedchainError(Exception):
    """Root of every expected fedchain failure."""


class ConfigError(FedchainError):
    """Bad or missing configuration."""


class ChainError(FedchainError):
    """The chain could not be reached or a transaction failed."""


class NetworkError(FedchainError):
    """libp2p / content exchange failure."""


class ContentError(FedchainError):
    """A blob or block does not match its content address or is malformed."""


class UpdateRejected(FedchainError):
    """A peer update failed verification; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
