"""The chain client's connection and the reads every part of it builds on: contract views
(raw JSON-RPC first, web3 as the fallback), JSON-RPC batches and event logs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import TxReceipt

from node.chain.artifacts import load_artifact
from node.chain.deploy import Deployment
from node.chain.tx import Sender, connect, rpc_errors
from node.chain.watch_reads import QuickReads, QuickReadUnavailable
from node.errors import ChainError

LOG_CHUNK_BLOCKS = 10_000
BATCH_SIZE = 100  # JSON-RPC requests per HTTP batch
QUICK_EVENTS = frozenset({"CommitteeSelected", "Committed", "Finalized"})
# Round r's events that only the transaction opening it (RoundOpened) or a later one emits:
# a read keyed by round r scans from the block r opened in, not from the deployment's.
ROUND_EVENTS = frozenset(
    {"CommitteeSelected", "Committed", "CommitClosed", "OutcomeSubmitted", "Finalized"}
    | {"RoundFailed", "Slashed"}
)
OPENED_KEPT = 64  # rounds whose opening block a client remembers


class ChainBase:
    """One account's connection to a deployment (the base of ``ChainClient``)."""

    def __init__(self, rpc_url: str, deployment: Deployment, private_key: str) -> None:
        self.rpc_url = rpc_url
        self.deployment = deployment
        self.w3 = connect(rpc_url)
        self._sender = Sender(self.w3, private_key)
        if self._sender.chain_id != deployment.chain_id:
            raise ChainError(
                f"{rpc_url} is chain {self._sender.chain_id} but the deployment is on chain "
                f"{deployment.chain_id}"
            )
        self._coord = self.w3.eth.contract(
            address=to_checksum_address(deployment.coordinator),
            abi=load_artifact("FedCoordinator").abi,
        )
        self._token = self.w3.eth.contract(
            address=to_checksum_address(deployment.token), abi=load_artifact("FedToken").abi
        )
        self._topics: dict[bytes, str] | None = None
        self._max_slash: int | None = None
        # round -> (number, hash) of the block its RoundOpened log is in (see _round_logs)
        self._opened: dict[int, tuple[int, str]] = {}
        self._opened_lock = threading.Lock()  # reads run in worker threads
        # the coordinator's views over raw JSON-RPC (~25x less CPU than web3's path)
        self._quick = QuickReads(rpc_url, self._coord.abi, self._coord.address)

    # ------------------------------------------------------------------ identity

    @property
    def address(self) -> str:
        """This client's checksum address."""
        return self._sender.address

    @property
    def chain_id(self) -> int:
        return self._sender.chain_id

    # ------------------------------------------------------------------ reads

    def chain_time(self) -> int:
        """Timestamp of the latest block."""
        with contextlib.suppress(QuickReadUnavailable):
            return self._quick.latest_timestamp()
        with rpc_errors(self.rpc_url):
            return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_number(self) -> int:
        with rpc_errors(self.rpc_url):
            return int(self.w3.eth.block_number)

    # ------------------------------------------------------------------ internals

    def _transact(self, action: str, fn: Any) -> TxReceipt:
        receipt: TxReceipt = self._sender.transact(action, fn)
        return receipt

    def _view(self, name: str, *args: Any, contract: Any = None) -> Any:
        if contract is None:
            with contextlib.suppress(QuickReadUnavailable):
                return self._quick.call(name, args, self.address)
        target = contract if contract is not None else self._coord
        return self._sender.call(name, target.functions[name](*args))

    def _addr(self, address: str | None) -> ChecksumAddress:
        return to_checksum_address(address or self.address)

    def _batch(self, payloads: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run reads as JSON-RPC batches of ``BATCH_SIZE``. Each payload makes one web3 call
        (a contract function, or a ``w3.eth`` method: those must be made inside the
        batch, hence the callables); reverts raise ``TransactionRejected``."""
        out: list[Any] = []
        with rpc_errors(self.rpc_url):
            for start in range(0, len(payloads), BATCH_SIZE):
                chunk = payloads[start : start + BATCH_SIZE]
                try:
                    with self.w3.batch_requests() as batch:
                        for make in chunk:
                            batch.add(make())
                        out += batch.execute()
                except (ContractCustomError, ContractLogicError, Web3RPCError) as exc:
                    raise self._sender.rejected("batched read", exc) from None
        return out

    def _quick_logs(self, event: str, filters: dict[str, Any]) -> list[Any]:
        latest = self._quick.block_number()
        found: list[Any] = []
        start = self.deployment.deploy_block
        while start <= latest:
            end = min(start + LOG_CHUNK_BLOCKS - 1, latest)
            found += self._quick.logs(event, filters, start, end)
            start = end + 1
        return found

    def _round_logs(self, event: str, filters: dict[str, Any], r: int) -> list[Any] | None:
        """Round ``r``'s ``event`` logs, scanned from the block round ``r`` opened in, in one
        JSON-RPC batch; None where that is not known for sure (the caller scans from the
        deployment's block).

        The opening block is remembered with its hash, from the RoundOpened log, and used
        only where the same batch finds that block still has that hash: the same chain up
        to that block, where round ``r`` opened, and none of its events comes before. A
        chain that moved back (anvil restarted from an older dump, a reorg) fails the check:
        every remembered block is dropped. Not yet known, the opening block is looked up in
        the same batch as the logs, from the latest earlier round's opening block known
        (the deployment's if none): found there, the logs from that block hold them all."""
        with self._opened_lock:
            known = dict(self._opened)
        opened = known.get(r)
        if opened is not None:
            block_hash, (found,) = self._quick.logs_from([(event, filters)], opened[0])
            if block_hash == opened[1]:
                return found
            known = {}  # the chain moved back
        hint = max((q for q in known if q < r), default=None)
        start, hint_hash = known[hint] if hint is not None else (self.deployment.deploy_block, "")
        queries = [("RoundOpened", {"round": r}), (event, filters)]
        block_hash, (opening, found) = self._quick.logs_from(queries, start)
        if hint is not None and block_hash != hint_hash:
            known = {}  # the chain moved back: the hint may be past round r's start
        if opening:
            known[r] = (int(opening[-1]["blockNumber"]), str(opening[-1]["blockHash"]))
        with self._opened_lock:
            self._opened = dict(sorted(known.items())[-OPENED_KEPT:])
        return found if opening else None

    def _logs(self, event: str, filters: dict[str, Any]) -> list[Any]:
        r = filters.get("round")
        if event in ROUND_EVENTS and isinstance(r, int):
            with contextlib.suppress(QuickReadUnavailable):
                since_open = self._round_logs(event, filters, r)
                if since_open is not None:
                    return since_open
        if event in QUICK_EVENTS:  # the round engine's per-round reads: raw JSON-RPC
            with contextlib.suppress(QuickReadUnavailable):
                return self._quick_logs(event, filters)
        latest = self.block_number()
        found: list[Any] = []
        start = self.deployment.deploy_block
        with rpc_errors(self.rpc_url):
            while start <= latest:
                end = min(start + LOG_CHUNK_BLOCKS - 1, latest)
                found += self._coord.events[event].get_logs(
                    argument_filters=filters, from_block=start, to_block=end
                )
                start = end + 1
        return found
