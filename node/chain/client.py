"""Typed, synchronous access to one deployment's coordinator and token.

CIDs are strings (base32 CIDv1) here and binary CIDs on chain; peer ids are base58 strings
here and raw multihash bytes on chain. Reverts raise ``TransactionRejected`` naming the
contract's custom error, e.g. ``commit rejected: CommitWindowClosed(round=3)``.

``ChainClient`` is assembled from its parts: ``client_base`` (connection, views, batches,
logs), ``account_reads``, ``round_reads``, ``history`` (batched block-range reads for the
index) and ``transactions``; ``records`` holds the value types. Import them from here.
"""

from __future__ import annotations

from node.chain.client_base import BATCH_SIZE, LOG_CHUNK_BLOCKS, QUICK_EVENTS
from node.chain.history import ROUND_EVENTS, HistoryReads
from node.chain.records import (
    MAX_METRIC_BPS,
    PARAM_SETTERS,
    STOP_RULE_PARAMS,
    BlockRef,
    ChainEvent,
    ChainParams,
    DeploymentEnd,
    FinalizedOutcome,
    Participant,
    RoundInfo,
    RoundStatus,
    StakeInfo,
    StopReason,
    VoteRecord,
)
from node.chain.round_reads import RoundReads
from node.chain.transactions import FINALIZE_GAS, SLASH_GAS, Transactions

__all__ = [
    "BATCH_SIZE",
    "FINALIZE_GAS",
    "LOG_CHUNK_BLOCKS",
    "MAX_METRIC_BPS",
    "PARAM_SETTERS",
    "QUICK_EVENTS",
    "ROUND_EVENTS",
    "SLASH_GAS",
    "STOP_RULE_PARAMS",
    "BlockRef",
    "ChainClient",
    "ChainEvent",
    "ChainParams",
    "DeploymentEnd",
    "FinalizedOutcome",
    "Participant",
    "RoundInfo",
    "RoundStatus",
    "StakeInfo",
    "StopReason",
    "VoteRecord",
]


class ChainClient(Transactions, RoundReads, HistoryReads):
    """One account's view of, and transactions to, a deployment."""
