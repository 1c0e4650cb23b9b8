"""Batched reads over many blocks, rounds or transactions, for the operator's round index
and the explorer: block refs, round infos, the coordinator's events and votes' calldata."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from eth_typing import HexStr
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes

from node.chain.client_base import LOG_CHUNK_BLOCKS, ChainBase
from node.chain.records import BlockRef, ChainEvent, RoundInfo, cid_str, round_info_from_raw
from node.chain.tx import rpc_errors

# Events that tell a round's story (read by block range into the operator's index).
ROUND_EVENTS = (
    "RoundOpened",
    "Committed",
    "CommitClosed",
    "OutcomeSubmitted",
    "Finalized",
    "RoundFailed",
    "Slashed",
    "RewardClaimed",
    "VoterRewardClaimed",
    "Swept",
    "ParamsApplied",
    "ReportedInactive",  # an account event: no round (``ChainEvent.round`` is 0)
    "DeploymentFinished",
)
_CID_ARGS = {("Committed", "cid"), ("Finalized", "modelCid"), ("DeploymentFinished", "modelCid")}


class HistoryReads(ChainBase):
    """Batched, block-range reads."""

    def blocks(self, numbers: Sequence[int | str]) -> list[BlockRef | None]:
        """Number, hash and timestamp of each block (``"latest"`` allowed), one HTTP batch
        per ``BATCH_SIZE``; None for a block the node does not have."""
        get = self.w3.eth.get_block
        found = self._batch([partial(get, n) for n in numbers])  # type: ignore[arg-type]
        return [
            BlockRef(int(b["number"]), "0x" + bytes(b["hash"]).hex(), int(b["timestamp"]))
            if b
            else None
            for b in found
        ]

    def round_infos(self, rounds: Sequence[int]) -> list[RoundInfo]:
        """``round_info`` of each round, batched."""
        raws = self._batch([partial(self._coord.functions.roundInfo, r) for r in rounds])
        return [round_info_from_raw(r, raw) for r, raw in zip(rounds, raws, strict=True)]

    def round_events(self, from_block: int, to_block: int) -> list[ChainEvent]:
        """Every ``ROUND_EVENTS`` event the coordinator emitted in the block range, in chain
        order: one ``eth_getLogs`` per ``LOG_CHUNK_BLOCKS`` blocks."""
        topics = self._round_topics()
        out: list[ChainEvent] = []
        start = max(from_block, self.deployment.deploy_block)
        with rpc_errors(self.rpc_url):
            while start <= to_block:
                end = min(start + LOG_CHUNK_BLOCKS - 1, to_block)
                logs = self.w3.eth.get_logs(
                    {
                        "address": self._coord.address,
                        "fromBlock": start,
                        "toBlock": end,
                        "topics": [[HexBytes(t) for t in topics]],
                    }
                )
                out += [self._event(log, topics) for log in logs]
                start = end + 1
        return out

    def outcome_calls(self, tx_hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        """What each ``submitOutcome`` transaction asked for, decoded from its calldata:
        model CID, reward root and the slash list (the authors its sender rejected).
        None for a transaction that is not a direct ``submitOutcome`` call."""
        txs = self._batch([partial(self.w3.eth.get_transaction, HexStr(h)) for h in tx_hashes])
        out: list[dict[str, Any] | None] = []
        for tx in txs:
            try:
                fn, params = self._coord.decode_function_input(tx["input"])
            except ValueError:  # called through another contract: not decodable here
                out.append(None)
                continue
            if (
                fn.fn_name != "submitOutcome"
                or (tx["to"] or "").lower() != self._coord.address.lower()
            ):
                out.append(None)
                continue
            out.append(
                {
                    "model_cid": cid_str(params["modelCid"]),
                    "reward_root": "0x" + bytes(params["rewardRoot"]).hex(),
                    "slash": [to_checksum_address(a) for a in params["slash"]],
                    "metric_bps": int(params["metricBps"]),
                }
            )
        return out

    def _round_topics(self) -> dict[bytes, str]:
        if self._topics is None:
            abi: dict[str, Any] = {
                str(e.get("name")): e for e in self._coord.abi if e.get("type") == "event"
            }
            self._topics = {bytes(event_abi_to_log_topic(abi[n])): n for n in ROUND_EVENTS}
        return self._topics

    def _event(self, log: Any, topics: dict[bytes, str]) -> ChainEvent:
        name = topics[bytes(log["topics"][0])]
        decoded = self._coord.events[name]().process_log(log)
        args = {k: _plain_arg(name, k, v) for k, v in decoded["args"].items()}
        stamp = log.get("blockTimestamp")
        return ChainEvent(
            name=name,
            args=args,
            block=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            tx="0x" + bytes(log["transactionHash"]).hex(),
            timestamp=int(stamp, 16) if isinstance(stamp, str) else stamp,
        )


def _plain_arg(event: str, name: str, value: Any) -> Any:
    if (event, name) in _CID_ARGS:
        return cid_str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):  # e.g. Finalized's slash list
        return [_plain_arg(event, name, v) for v in value]
    return value
