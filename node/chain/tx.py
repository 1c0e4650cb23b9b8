"""Web3 connection, locally signed transactions, and revert decoding into one-line errors."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests
from eth_abi import decode
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import RPCEndpoint

from node.chain.artifacts import Artifact, load_artifact
from node.chain.errors import ChainUnreachable, InsufficientFunds, TransactionRejected
from node.chain.quick_tx import (
    QuickTxUnavailable,
    RawRpc,
    calldata,
    format_receipt,
    result_of,
    revert_error,
)
from node.errors import ChainError

RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_S = 0.1
# a transaction mines at once on an automining devnet: look again soon, then every 0.1 s
RECEIPT_FIRST_POLLS_S = (0.01, 0.02, 0.05)
REPLACED_CHECKS = 10  # receipt reads, RECEIPT_POLL_S apart, before a used nonce means replaced
GAS_MARGIN = 1.25
_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")
NONCE_RETRIES = 8
# What geth, anvil and others answer when a transaction reuses a nonce already taken.
_NONCE_TAKEN = (
    "nonce too low",
    "replacement transaction underpriced",
    "already known",
    "already imported",
)


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A Web3 over HTTP; ``ChainUnreachable`` if the endpoint does not answer."""
    # web3's validation middleware asks eth_chainId before every eth_call, estimate and
    # send (half of a node's requests); a chain's id never changes: asked once
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    w3 = Web3(provider)
    with rpc_errors(rpc_url):
        w3.eth.chain_id  # noqa: B018  (a cheap round trip that proves the endpoint is up)
    return w3


@contextlib.contextmanager
def rpc_errors(rpc_url: str) -> Iterator[None]:
    """Turn transport failures into ``ChainUnreachable``."""
    try:
        yield
    except (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        ProviderConnectionError,
        ConnectionError,
    ):
        raise ChainUnreachable(rpc_url) from None


class ErrorDecoder:
    """Maps revert data to (error name, named arguments) using the contracts' ABIs."""

    def __init__(self, abis: Sequence[Sequence[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [_canonical(i) for i in entry["inputs"]]
                names = [i.get("name") or f"arg{n}" for n, i in enumerate(entry["inputs"])]
                selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
                self._errors[selector] = (entry["name"], types, names)

    def decode(self, data: bytes) -> tuple[str, dict[str, object]]:
        selector, body = data[:4], data[4:]
        if selector == _ERROR_STRING:
            return "Error", {"message": decode(["string"], body)[0]}
        if selector == _PANIC:
            return "Panic", {"code": hex(decode(["uint256"], body)[0])}
        known = self._errors.get(selector)
        if known is None:
            return f"UnknownError(0x{data.hex()})" if data else "Reverted", {}
        name, types, names = known
        try:
            values = decode(types, body)
        except Exception:  # malformed revert data: still name the error
            return name, {}
        return name, dict(zip(names, (_plain(v) for v in values), strict=True))


def _canonical(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _plain(value: object) -> object:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def default_decoder() -> ErrorDecoder:
    """Decoder for every custom error the coordinator or the token can raise."""
    return ErrorDecoder([load_artifact("FedCoordinator").abi, load_artifact("FedToken").abi])


def _nonce_taken(exc: Exception) -> bool:
    """Whether a send failed only because the nonce was used by another sender."""
    text = str(exc).lower()
    return any(marker in text for marker in _NONCE_TAKEN)


def _revert_data(exc: Exception) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if isinstance(data, bytes):
        return data
    return None


class Sender:
    """Signs with one private key, sends, waits for receipts; one transaction at a time."""

    def __init__(self, w3: Web3, private_key: str, decoder: ErrorDecoder | None = None) -> None:
        self.w3 = w3
        self._account = Account.from_key(private_key)
        self.address: ChecksumAddress = self._account.address
        self.rpc_url = str(getattr(w3.provider, "endpoint_uri", "?"))
        self.decoder = decoder or default_decoder()
        self._lock = threading.Lock()
        with rpc_errors(self.rpc_url):
            self.chain_id: int = int(w3.eth.chain_id)
        try:  # contract transactions over raw JSON-RPC (node/chain/quick_tx.py)
            self._raw: RawRpc | None = RawRpc(self.rpc_url)
        except QuickTxUnavailable:
            self._raw = None

    def rejected(self, action: str, exc: Exception) -> ChainError:
        """The one-line error for a revert raised by a call, estimate or send."""
        data = _revert_data(exc)
        if data is not None:
            name, args = self.decoder.decode(data)
            return TransactionRejected(action, name, args)
        if isinstance(exc, ContractPanicError | ContractLogicError):
            message = str(getattr(exc, "message", None) or exc)
            return TransactionRejected(action, "Error", {"message": message})
        text = str(exc)
        if "insufficient funds" in text.lower():
            return InsufficientFunds(
                f"{action} failed: account {self.address} cannot pay for gas on chain "
                f"{self.chain_id}: send it some ETH (devnet accounts come pre-funded)"
            )
        return ChainError(f"{action} failed: {text}")

    def call(self, action: str, fn: Any) -> Any:
        """``eth_call`` a contract function from this account; decoded error on revert."""
        with rpc_errors(self.rpc_url):
            try:
                return fn.call({"from": self.address})
            except (ContractCustomError, ContractLogicError, Web3RPCError, ValueError) as exc:
                raise self.rejected(action, exc) from None

    def transact(self, action: str, fn: Any, value: int = 0, extra_gas: int = 0) -> Any:
        """Simulate, sign, send and wait; returns the receipt.

        ``extra_gas`` covers a path the estimate could not see: e.g. a vote estimated
        while it would not finalize, mined after others' votes so that it does.
        """
        params: dict[str, Any] = {"from": self.address, "value": value}
        with self._lock, rpc_errors(self.rpc_url):
            quick = self._quick_tx(action, fn, value, extra_gas)
            if quick is not None:
                return self._send(action, quick, retry_call=fn)
            try:
                # the estimate is the simulation: a revert raises here, with its data
                gas = int(fn.estimate_gas(params))
                params.update(self._nonce_and_fees())
                params["chainId"] = self.chain_id
                params["gas"] = int(gas * GAS_MARGIN) + extra_gas
                tx = fn.build_transaction(params)
            except (ContractCustomError, ContractLogicError, Web3RPCError, ValueError) as exc:
                raise self.rejected(action, exc) from None
            return self._send(action, tx, retry_call=fn)

    def _quick_tx(self, action: str, fn: Any, value: int, extra_gas: int) -> dict[str, Any] | None:
        """The transaction ``transact`` would build, simulated and filled (nonce, fees,
        gas) in one JSON-RPC batch; None where the web3 path must do it."""
        if self._raw is None:
            return None
        try:
            data = calldata(fn)
            call = {"from": self.address, "to": fn.address, "data": data, "value": hex(value)}
            estimate, nonce, tip, block = self._raw.batch(
                [
                    ("eth_estimateGas", [call]),
                    ("eth_getTransactionCount", [self.address, "pending"]),
                    ("eth_maxPriorityFeePerGas", []),
                    ("eth_getBlockByNumber", ["latest", False]),
                ]
            )
            reverted = revert_error(estimate)  # the estimate is the simulation
            if reverted is not None:
                raise self.rejected(action, reverted)
            latest = result_of(block)
            base_fee = latest.get("baseFeePerGas") if isinstance(latest, dict) else None
            if base_fee is None:  # legacy gas price: web3 fills it
                return None
            priority = int(result_of(tip), 16)
            return {
                "to": fn.address,
                "data": data,
                "value": value,
                "nonce": int(result_of(nonce), 16),
                "maxPriorityFeePerGas": priority,
                "maxFeePerGas": priority + 2 * int(base_fee, 16),
                "gas": int(int(result_of(estimate), 16) * GAS_MARGIN) + extra_gas,
                "chainId": self.chain_id,
            }
        except (QuickTxUnavailable, ValueError, TypeError, AttributeError):
            return None  # e.g. an error answer this path does not recognise

    def _nonce_and_fees(self) -> dict[str, int]:
        """The next nonce and EIP-1559 fees as web3 would fill them (tip, plus twice the
        latest base fee), read in one JSON-RPC batch instead of three round trips; the
        nonce alone on a chain without a base fee (web3 then fills the gas price)."""
        eth = self.w3.eth
        with self.w3.batch_requests() as batch:
            batch.add(eth.get_transaction_count(self.address, "pending"))
            batch.add(eth._max_priority_fee())
            batch.add(eth.get_block("latest"))
            found: list[Any] = list(batch.execute())
        nonce, tip, block = found
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            return {"nonce": int(nonce)}
        return {
            "nonce": int(nonce),
            "maxPriorityFeePerGas": int(tip),
            "maxFeePerGas": int(tip) + 2 * int(base_fee),
        }

    def deploy(self, action: str, artifact: Artifact, *args: Any) -> tuple[str, int]:
        """Deploy ``artifact`` with constructor ``args``; returns (address, block number)."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        ctor = factory.constructor(*args)
        with self._lock, rpc_errors(self.rpc_url):
            try:
                tx = ctor.build_transaction(
                    {
                        "from": self.address,
                        "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
                        "chainId": self.chain_id,
                    }
                )
            except (ContractCustomError, ContractLogicError, Web3RPCError, ValueError) as exc:
                raise self.rejected(action, exc) from None
            receipt = self._send(action, tx, retry_call=None)
        return to_checksum_address(receipt["contractAddress"]), int(receipt["blockNumber"])

    def send_value(self, action: str, to: str, wei: int) -> Any:
        """Plain ETH transfer."""
        with self._lock, rpc_errors(self.rpc_url):
            tx: dict[str, Any] = {
                "from": self.address,
                "to": to_checksum_address(to),
                "value": wei,
                "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
                "chainId": self.chain_id,
                "gas": 21_000,
                "gasPrice": self.w3.eth.gas_price,
            }
            return self._send(action, tx, retry_call=None)

    def _submit(self, tx: Any) -> Any:
        """Sign and send; if another process with this key took the nonce meanwhile (the
        lock is per process), send again with the next free one."""
        attempt = 0
        while True:
            signed = self._account.sign_transaction(tx)
            try:
                if self._raw is not None:
                    return self._raw.call(
                        "eth_sendRawTransaction", [signed.raw_transaction.to_0x_hex()]
                    )
                return self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except (Web3RPCError, ValueError) as exc:
                if attempt >= NONCE_RETRIES or not _nonce_taken(exc):
                    raise
            attempt += 1
            # The taken nonce is counted by now (mined, or pending in the pool).
            tx["nonce"] = self._next_free_nonce()

    def _next_free_nonce(self) -> int:
        """The pool's next nonce for this key, read after a random pause: two senders that
        just collided would otherwise read the same value and collide again."""
        time.sleep(random.uniform(0, RECEIPT_POLL_S))
        return self._transaction_count("pending")

    def _transaction_count(self, block: str) -> int:
        if self._raw is not None:
            return int(self._raw.call("eth_getTransactionCount", [self.address, block]), 16)
        return int(self.w3.eth.get_transaction_count(self.address, block))  # type: ignore[arg-type]

    def _receipt(self, tx_hash: Any) -> Any:
        """The receipt of ``tx_hash`` (as web3 formats it); ``TransactionNotFound`` while
        it is not mined."""
        if self._raw is None:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        raw = self._raw.call("eth_getTransactionReceipt", [tx_hash])
        if raw is None:
            raise TransactionNotFound(f"transaction {tx_hash} not mined yet")
        return format_receipt(raw)

    def _wait_receipt(self, tx_hash: Any, nonce: int) -> Any:
        """The receipt of ``tx_hash``; None once another transaction with its nonce was
        mined instead (a replacement sent by another process with this key)."""
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        polls = 0
        while time.monotonic() < deadline:
            try:
                return self._receipt(tx_hash)
            except TransactionNotFound:
                pass
            if self._transaction_count("latest") > nonce:
                return self._receipt_after_nonce_moved(tx_hash)
            pause = RECEIPT_FIRST_POLLS_S[polls] if polls < len(RECEIPT_FIRST_POLLS_S) else None
            polls += 1
            time.sleep(pause if pause is not None else RECEIPT_POLL_S)
        raise TimeExhausted

    def _receipt_after_nonce_moved(self, tx_hash: Any) -> Any:
        """The receipt of ``tx_hash`` once its nonce is used; None if it never turns up.

        Mined between the two reads, or the node counts the nonce a moment before it
        serves the receipt (seen with anvil under load: treating that as a replacement sent
        a claim twice, the second reverting ``AlreadyClaimed``), so look a few times."""
        for _ in range(REPLACED_CHECKS):
            try:
                return self._receipt(tx_hash)
            except TransactionNotFound:
                time.sleep(RECEIPT_POLL_S)
        return None

    def _send(self, action: str, tx: Any, retry_call: Any) -> Any:
        try:
            receipt = None
            for attempt in range(NONCE_RETRIES + 1):
                if attempt:
                    # Another sender with this key took our nonce and its transaction
                    # replaced ours in the pool: ours never ran, so send it again.
                    tx["nonce"] = self._next_free_nonce()
                receipt = self._wait_receipt(self._submit(tx), int(tx["nonce"]))
                if receipt is not None:
                    break
            if receipt is None:
                raise ChainError(f"{action}: its nonce was taken {NONCE_RETRIES + 1} times")
        except TimeExhausted:
            raise ChainError(
                f"{action}: no receipt within {RECEIPT_TIMEOUT_S:.0f}s (is the chain mining?)"
            ) from None
        except (Web3RPCError, ValueError) as exc:
            raise self.rejected(action, exc) from None
        if receipt["status"] != 1:
            # The state moved between simulation and mining: replay to name the error.
            if retry_call is not None:
                try:
                    retry_call.call({"from": self.address})
                except (ContractCustomError, ContractLogicError) as exc:
                    raise self.rejected(action, exc) from None
            raise ChainError(f"{action} reverted in block {receipt['blockNumber']}")
        return receipt
