"""One root error type; each layer's errors derive from it.

Errors derived from ``FedchainError`` are *expected* failures: the CLI prints their
message on one line and exits non-zero without a traceback.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum


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


class Rejection(StrEnum):
    """Why a committed update was rejected: the metric label, and the spelling in round
    records, status.json and the explorer (so these values never change)."""

    MALFORMED = "malformed"  # not a decodable update blob
    WRONG_DEPLOYMENT = "wrong_deployment"
    WRONG_ROUND = "wrong_round"
    WRONG_AUTHOR = "wrong_author"  # the header names someone other than the committer
    WRONG_BASE = "wrong_base"  # trained on another model than the round's base
    WRONG_CODEC = "wrong_codec"  # another update codec than the deployment's
    BAD_EXAMPLES = "bad_examples"
    BAD_SHAPE = "bad_shape"
    OUT_OF_RANGE = "out_of_range"
    NORM_BOUND = "norm_bound"
    CID_MISMATCH = "cid_mismatch"  # the bytes do not hash to the committed CID
    UNAVAILABLE = "unavailable"  # no blob by the exchange deadline: not proof of malice

    @property
    def proves_malice(self) -> bool:
        """An honest node never sends such an update (every honest node runs the same checks
        on the same committed bytes): its author is slashed. Only ``unavailable`` is not."""
        return self is not Rejection.UNAVAILABLE


class UpdateRejected(FedchainError):
    """A peer update failed verification; ``reason`` is a short metric label."""

    def __init__(self, reason: Rejection | str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = Rejection(reason)
        self.detail = detail


@contextmanager
def one_error() -> Iterator[None]:
    """Re-raise a nursery's only error as itself: the round loop handles ``RoundLost`` and
    other ``FedchainError``s by type, and trio wraps whatever a nursery raises in an
    ``ExceptionGroup`` (a chain restarted mid-exchange killed the node this way)."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out
