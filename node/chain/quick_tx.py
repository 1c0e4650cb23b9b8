"""Transactions over raw JSON-RPC: what ``Sender.transact`` does through web3.py, for a
fraction of the CPU.

web3.py spends about 25 ms of CPU on one contract transaction (its ABI lookup validates
the whole ABI and hashes every function's selector, again, for the estimate and again for
the build; middleware; a ``requests`` round trip per call) and makes five HTTP requests.
A node sends four or five transactions a round (commit, vote, two claims, sometimes the
advance), and four nodes on two cores are CPU-bound, so that was a tenth of a node's CPU.
Here: the calldata is encoded with eth_abi (selector and types computed once per
function), the simulation (``eth_estimateGas``) rides in one JSON-RPC batch with the
nonce and fee reads, the transaction is signed with eth_account and the receipt read over
one keep-alive ``http.client`` connection per thread, formatted as web3 formats it.

``QuickTxUnavailable`` means this path cannot do it (keyword arguments, an encoding doubt,
a chain without a base fee, an error answer it does not recognise): the caller takes the
web3 path, which still does everything (and reports errors as it always did).
"""

from __future__ import annotations

import threading
from typing import Any

import eth_abi
from eth_utils import keccak
from web3._utils.method_formatters import receipt_formatter
from web3.datastructures import AttributeDict

from node.chain.raw_rpc import RawRpc, RpcError, RpcUnavailable, result_of
from node.chain.watch_reads import abi_type

QuickTxUnavailable = RpcUnavailable  # this transaction goes the web3 path

__all__ = [
    "QuickTxUnavailable",
    "RawRpc",
    "RpcError",
    "calldata",
    "format_receipt",
    "result_of",
    "revert_error",
]


_functions: dict[str, tuple[bytes, list[str]]] = {}
_functions_lock = threading.Lock()


def calldata(fn: Any) -> str:
    """The calldata of a bound web3 contract function (``contract.functions.name(*args)``)."""
    abi = getattr(fn, "abi", None)
    if not isinstance(abi, dict) or getattr(fn, "kwargs", None) or abi.get("type") != "function":
        raise QuickTxUnavailable("not a plain positional function call")
    types = [abi_type(i) for i in abi.get("inputs", [])]
    signature = f"{abi['name']}({','.join(types)})"
    with _functions_lock:
        known = _functions.get(signature)
        if known is None:
            known = _functions[signature] = (keccak(text=signature)[:4], types)
    selector, types = known
    try:
        return "0x" + (selector + eth_abi.encode(types, list(fn.args))).hex()
    except Exception as exc:  # noqa: BLE001 - any doubt about the arguments: web3 validates
        raise QuickTxUnavailable(f"arguments: {exc}") from None


def revert_error(answer: dict[str, Any]) -> RpcError | None:
    """The estimate's error answer if it is a revert with data that names it (custom error,
    ``Error(string)``, ``Panic``); None for a result. Anything else: web3 reports it."""
    if "error" not in answer:
        return None
    error = RpcError(answer["error"])
    if error.data is None or len(error.data) < 10 or not error.data.startswith("0x"):
        raise QuickTxUnavailable(f"estimate: {error}")
    return error


def format_receipt(raw: Any) -> Any:
    """A raw ``eth_getTransactionReceipt`` result as web3's ``get_transaction_receipt``
    returns it (ints, HexBytes, an AttributeDict)."""
    return AttributeDict.recursive(receipt_formatter(raw))
