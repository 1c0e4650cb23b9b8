"""The round engine's two ports: the chain (async, riding out RPC outages) and the blob store.

``ChainPort`` is what the round reads and sends on chain, each call run off the trio loop
through the node's ``ChainLink``: reads (and actions the contract makes idempotent) are
retried while the endpoint is unreachable; ``commit`` and ``submit_outcome`` are sent once,
since a send that failed in transport must be read back before it is sent again.

``BlobStore`` is content addressing at the boundary: ``put`` returns the CID it computed
itself and refuses a store that names another; ``get`` refuses bytes that do not hash to
the CID asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from node.errors import ContentError, Rejection, UpdateRejected
from node.store.cid import compute_cid
from node.types import Cid

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from node.chain.client import (
        ChainClient,
        ChainParams,
        DeploymentEnd,
        Participant,
        RoundInfo,
        StakeInfo,
        VoteRecord,
    )
    from node.chain.deploy import Deployment
    from node.chainlink import ChainLink
    from node.metrics import Metrics
    from node.p2p.network import PeerNetwork

T = TypeVar("T")


class ChainPort:
    """The chain as the round engine uses it (own address wherever one is optional)."""

    def __init__(self, client: ChainClient, link: ChainLink) -> None:
        self.client = client
        self.link = link

    @property
    def address(self) -> str:
        return self.client.address

    @property
    def deployment(self) -> Deployment:
        return self.client.deployment

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        self.link.metrics.inc("chain_reads_total", read=getattr(fn, "__name__", "?"))
        return await self.link.call(fn, *args)

    # --- reads ----------------------------------------------------------------------
    async def chain_time(self) -> int:
        return await self._read(self.client.chain_time)

    async def current_round(self) -> int:
        return await self._read(self.client.current_round)

    async def round_info(self, r: int) -> RoundInfo:
        return await self._read(self.client.round_info, r)

    async def round_view(self, r: int) -> tuple[RoundInfo, int]:
        """``round_info`` and the chain time in one batched read."""
        return await self._read(self.client.round_view, r)

    async def current_view(self, r: int) -> tuple[int, RoundInfo, int]:
        """The latest opened round, round ``r`` and the chain time in one batched read."""
        return await self._read(self.client.current_view, r)

    async def round_base_view(self, r: int) -> tuple[RoundInfo, str, RoundInfo]:
        """Round ``r``, the latest model's CID and round ``r`` again, in one batched read."""
        return await self._read(self.client.round_base_view, r)

    async def commit_view(self, r: int) -> tuple[RoundInfo, StakeInfo, int]:
        """Round ``r``, this node's stake and the chain time, in one batched read."""
        return await self._read(self.client.commit_view, r)

    async def voter_claim_view(
        self, r: int, address: str | None = None
    ) -> tuple[RoundInfo, tuple[bytes, int, bool], int, int]:
        """Round ``r``, the vote of ``address`` in it, the current round and the chain
        time, in one batched read."""
        return await self._read(self.client.voter_claim_view, r, address)

    async def params(self) -> ChainParams:
        return await self._read(self.client.params)

    async def participant(self, address: str | None = None) -> Participant | None:
        return await self._read(self.client.participant, address)

    async def participant_count(self) -> int:
        return await self._read(self.client.participant_count)

    async def registry_counts(self) -> tuple[int, int]:
        return await self._read(self.client.registry_counts)

    async def participants(self) -> list[Participant]:
        return await self._read(self.client.participants)

    async def stake_info(self) -> StakeInfo:
        return await self._read(self.client.stake_info)

    async def stake_at_open(self, r: int, address: str) -> int:
        return await self._read(self.client.stake_at_open, r, address)

    async def is_selected(self, r: int) -> bool:
        return await self._read(self.client.is_selected, r)

    async def committee(self, r: int) -> list[str] | None:
        return await self._read(self.client.committee, r)

    async def commitments(self, r: int) -> dict[str, str]:
        return await self._read(self.client.commitments, r)

    async def commitment_cid(self, r: int, address: str | None = None) -> str | None:
        return await self._read(self.client.commitment_cid, r, address)

    async def has_voted(self, r: int) -> bool:
        return await self._read(self.client.has_voted, r)

    async def vote_of(self, r: int, address: str | None = None) -> tuple[bytes, int, bool]:
        return await self._read(self.client.vote_of, r, address)

    async def votes(self, r: int | None = None) -> list[VoteRecord]:
        return await self._read(self.client.votes, r)

    async def outcome_id(self, model_cid: str, reward_root: bytes, slash: Sequence[str]) -> bytes:
        return await self._read(self.client.outcome_id, model_cid, reward_root, slash)

    async def latest_model_cid(self) -> str:
        return await self._read(self.client.latest_model_cid)

    async def latest_model_cid_of(self, r: int) -> str:
        return await self._read(self.client.latest_model_cid_of, r)

    async def is_claimed(self, r: int, address: str | None = None) -> bool:
        return await self._read(self.client.is_claimed, r, address)

    async def max_slash(self) -> int:
        return await self._read(self.client.max_slash)

    async def claim_deadline(self, r: int) -> int:
        return await self._read(self.client.claim_deadline, r)

    async def missed_rounds_of(self, addresses: Sequence[str]) -> dict[str, int]:
        return await self._read(self.client.missed_rounds_of, addresses)

    async def deployment_end(self) -> DeploymentEnd | None:
        return await self._read(self.client.deployment_end)

    # --- actions the contract makes safe to repeat (retried like reads) --------------
    async def advance(self) -> bool:
        return await self._read(self.client.advance)

    async def ensure_registered(self, stake: int, peer_id: str, addrs: list[str]) -> bool:
        return await self._read(self.client.ensure_registered, stake, peer_id, addrs)

    async def claim(self, r: int, amount: int, proof: Sequence[bytes]) -> TxReceipt:
        return await self._read(self.client.claim, r, amount, proof)

    async def claim_voter_reward(self, r: int) -> TxReceipt:
        return await self._read(self.client.claim_voter_reward, r)

    async def sweep(self, r: int) -> TxReceipt:
        return await self._read(self.client.sweep, r)

    async def report_inactive(self, address: str) -> TxReceipt:
        return await self._read(self.client.report_inactive, address)

    # --- sent once: ``ChainUnreachable`` propagates, the caller reads the chain back --
    async def commit(self, r: int, cid: str) -> TxReceipt:
        return await self.link.send(self.client.commit, r, cid)

    async def submit_outcome(
        self, r: int, model_cid: str, root: bytes, slash: list[str], metric_bps: int
    ) -> TxReceipt:
        return await self.link.send(
            self.client.submit_outcome, r, model_cid, root, slash, metric_bps
        )


class BlobStore:
    """This node's blobs (updates, models) by CID, served to peers over Bitswap; every blob
    put is also queued for the optional Kubo pinning task."""

    def __init__(self, net: PeerNetwork, metrics: Metrics) -> None:
        self.net = net
        self.metrics = metrics
        self.pin_queue: trio.MemorySendChannel[bytes] | None = None  # set by the daemon

    async def put(self, blob: bytes, pin: bool = True) -> Cid:
        """Store ``blob`` where peers can fetch it; its CIDv1."""
        cid = compute_cid(blob)
        stored = await self.net.add_blob(blob)
        if stored != cid:
            raise ContentError(f"the blockstore stored {stored} for a blob that hashes to {cid}")
        if pin:
            self._queue_pin(blob)
        return cid

    def has(self, cid: str) -> bool:
        return self.net.has_blob(cid)

    async def get(
        self, cid: str, peers: Sequence[str] = (), timeout: float = 30.0, what: str = "blob"
    ) -> bytes:
        """The blob ``cid``: from the local store, else fetched from ``peers`` (asked in
        order; any connected peer if there are none); ``UpdateRejected``
        (``cid_mismatch``) if it hashes otherwise."""
        blob = await self.net.get_local_blob(cid)
        if blob is None:
            blob = await self.net.fetch_blob(cid, list(peers), timeout)
        if compute_cid(blob) != cid:
            raise UpdateRejected(Rejection.CID_MISMATCH, f"{what} does not hash to {cid}")
        return blob

    def _queue_pin(self, blob: bytes) -> None:
        """Hand a blob to the Kubo pinning task; never blocks the round."""
        if self.pin_queue is None:
            return
        try:
            self.pin_queue.send_nowait(blob)
        except trio.WouldBlock:
            self.metrics.inc("pins_dropped_total")
