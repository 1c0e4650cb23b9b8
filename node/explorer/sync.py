"""The explorer's background sync: the chain's events and views, and the nodes' status
records, into the index the pages read (db.py and node/operator/index.py).

One ``step`` is blocking (web3, urllib); the app runs it on its own single worker thread
(SQLite connections stay on the thread that opened them). Work per step is bounded by
what changed: new blocks (paged ``eth_getLogs``), rounds not settled yet (one batch of
``roundInfo``), the registry (two batches) and one GET per node.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.explorer import db as xdb
from node.operator.index import RoundIndex
from node.operator.roundfacts import gather

if TYPE_CHECKING:
    from node.chain.client import ChainClient

log = logging.getLogger(__name__)
ROUND_BATCH = 200  # rounds per roundInfo / getTransaction batch on the first sync
STAKE_EVENTS = ("Registered", "Staked", "UnstakeRequested", "Withdrawn", "Activated", "Deactivated")
NODE_TIMEOUT_S = 3.0
VIEWS_EVERY_S = 30.0
SPLIT_MARK = "split"  # x_rewards kind: the round's contributor split is known in full


class Syncer:
    """Keeps ``path`` (one SQLite file) up to date with ``chain`` and ``nodes``."""

    def __init__(self, chain: ChainClient, path: Path, nodes: list[str]) -> None:
        self.chain = chain
        self.nodes = [status_endpoint(n) for n in nodes]
        self.index = RoundIndex(path, chain.deployment.deploy_block)
        self.db = xdb.connect(path)
        self._coord: Any = None
        self._block = -1  # the latest block the previous step saw
        self._views_due = 0.0  # when the registry and parameters are read again anyway
        self._records: dict[str, str] = {}  # node URL -> its last status, as read
        self._dirty: set[int] = set()  # rounds whose rewards may have changed

    def close(self) -> None:
        self.index.close()
        self.db.close()

    def step(self) -> None:
        """One pass; ChainUnreachable (or another ChainError) when the chain failed."""
        self.sync_nodes()  # first: they still answer when the chain is down
        self.sync_chain()

    # ------------------------------------------------------------------ chain

    def sync_chain(self) -> None:
        before = self.index.current_round()
        latest = self.index.sync(self.chain)
        current = self.index.current_round()
        if current < before:  # the index started over: a new chain at the same address
            xdb.reset(self.db)
            self._block = -1
        if latest == self._block and not self._dirty and time.monotonic() < self._views_due:
            return  # no new block: nothing on chain changed (an idle chain costs 2 requests)
        self._views_due = time.monotonic() + VIEWS_EVERY_S
        self._stake_events(latest)
        xdb.put_participants(
            self.db,
            [
                {
                    "address": p.address,
                    "stake": p.stake,
                    "peer_id": p.peer_id,
                    "addrs": list(p.addrs),
                    "active": p.active,
                }
                for p in self.chain.participants()
            ],
        )
        # what a round row holds changes only with the round's events (status, votes,
        # early close): read again the rounds new blocks touched and the ones not stored
        stored = {int(r) for (r,) in self.db.execute("SELECT round FROM x_rounds")}
        touched = {
            int(r)
            for (r,) in self.db.execute(
                "SELECT DISTINCT round FROM events WHERE block > ? AND round > 0", (self._block,)
            )
        }
        todo = sorted({r for r in range(1, current + 1) if r not in stored} | touched)
        for i in range(0, len(todo), ROUND_BATCH):
            self._rounds(todo[i : i + ROUND_BATCH])
        self._dirty.update(todo)
        self._contributor_rewards(sorted(self._dirty))
        self._dirty.clear()
        self._block = latest
        params = self.chain.params()
        d = self.chain.deployment
        with self.db:
            xdb.set_meta(
                self.db,
                {
                    "deployment": d.to_json(),
                    "params": params.__dict__,
                    "chain_time": self.index.chain_time,
                    "latest_block": latest,
                    "current_round": current,
                    "synced_at": int(time.time()),
                    "version": int(xdb.meta(self.db, "version") or 0) + 1,
                },
            )

    def _rounds(self, rounds: list[int]) -> None:
        facts = gather(self.chain, self.index, rounds)
        # cache the voters' calldata (their slash lists) for the round pages
        self.index.outcome_calls(self.chain, [v["tx"] for f in facts.values() for v in f.votes])
        finalized = [r for r, f in facts.items() if f.finalized]
        # the chain's agreed metric (set once, at finalization): the stop rule replays it
        metrics = dict(zip(finalized, self.chain.agreed_metrics(finalized), strict=True))
        rows, rewards = [], []
        for r, f in facts.items():
            info = f.info
            rows.append(
                {
                    "round": r,
                    "status": f.status,
                    "opened_at": info.opened_at,
                    "commit_deadline": info.commit_deadline,
                    "closed_at": info.closed_at,
                    "vote_deadline": info.vote_deadline,
                    "finalized_at": info.finalized_at,
                    "contributor_pool": info.contributor_pool,
                    "voter_pool": info.voter_pool,
                    "stake_snapshot": info.stake_snapshot,
                    "eligible": info.eligible_count,
                    "commits": info.commit_count,
                    "model_cid": f.finalized["args"]["modelCid"] if f.finalized else None,
                    "detail": {
                        "returned": f.returned(),
                        "winning_weight": info.winning_weight,
                        "agreed_metric_bps": metrics.get(r),
                    },
                }
            )
            rewards += [(r, a, "voter", amount) for a, amount in f.voter_rewards().items()]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            xdb.put_rounds(self.db, rows)
            xdb.put_rewards(self.db, rewards)

    def _contributor_rewards(self, rounds: list[int]) -> None:
        """Contributor rewards of the finalized ``rounds``: the split a node that computed
        the finalized model recorded (the chain holds only its Merkle root), else what was
        claimed so far (looked at again with the round's next claim or node record)."""
        if not rounds:
            return
        marks = ",".join("?" * len(rounds))
        open_rounds = {
            int(r): cid
            for r, cid in self.db.execute(
                f"SELECT round, model_cid FROM x_rounds WHERE round IN ({marks}) AND status = "
                "'finalized' AND round NOT IN (SELECT round FROM x_rewards WHERE kind = ?)",
                [*rounds, SPLIT_MARK],
            )
        }
        if not open_rounds:
            return
        rows: list[tuple[int, str, str, int]] = []
        claims = self.index.events(list(open_rounds), names=["RewardClaimed"])
        for e in claims:
            if e["round"] in open_rounds:
                rows.append(
                    (e["round"], e["args"]["account"], "contributor", int(e["args"]["amount"]))
                )
        for r, cid in open_rounds.items():
            record = next(
                (rec for _, rec in xdb.node_records(self.db, r) if rec.get("model_cid") == cid),
                None,
            )
            if record is None or record.get("rewards") is None:
                continue
            rows += [(r, a, "contributor", int(v)) for a, v in record["rewards"].items() if int(v)]
            rows.append((r, "", SPLIT_MARK, 0))
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            xdb.put_rewards(self.db, rows)

    def _stake_events(self, latest: int) -> None:
        from eth_utils import to_checksum_address
        from hexbytes import HexBytes
        from web3._utils.events import event_abi_to_log_topic

        from node.chain.artifacts import load_artifact
        from node.chain.client import LOG_CHUNK_BLOCKS
        from node.chain.tx import rpc_errors

        w3 = self.chain.w3
        if self._coord is None:
            self._coord = w3.eth.contract(
                address=to_checksum_address(self.chain.deployment.coordinator),
                abi=load_artifact("FedCoordinator").abi,
            )
        coord = self._coord
        abis = {str(e.get("name")): e for e in coord.abi if e.get("type") == "event"}
        topics = {bytes(event_abi_to_log_topic(abis[n])): n for n in STAKE_EVENTS if n in abis}
        start = int(xdb.meta(self.db, "stake_block") or self.chain.deployment.deploy_block - 1) + 1
        found: list[dict[str, Any]] = []
        with rpc_errors(self.chain.rpc_url):
            while start <= latest:
                end = min(start + LOG_CHUNK_BLOCKS - 1, latest)
                logs = w3.eth.get_logs(
                    {
                        "address": coord.address,
                        "fromBlock": start,
                        "toBlock": end,
                        "topics": [[HexBytes(t) for t in topics]],
                    }
                )
                for entry in logs:
                    name = topics[bytes(entry["topics"][0])]
                    args = coord.events[name]().process_log(entry)["args"]
                    stamp = entry.get("blockTimestamp")
                    found.append(
                        {
                            "block": int(entry["blockNumber"]),
                            "log_index": int(entry["logIndex"]),
                            "tx": "0x" + bytes(entry["transactionHash"]).hex(),
                            "name": name,
                            "address": str(args["account"]),
                            "args": {k: _plain(v) for k, v in args.items()},
                            "timestamp": int(stamp, 16) if isinstance(stamp, str) else stamp,
                        }
                    )
                start = end + 1
        untimed = [e["block"] for e in found if e["timestamp"] is None]
        if untimed:
            times = self.index.block_times(self.chain, untimed)
            for e in found:
                e["timestamp"] = e["timestamp"] or times.get(e["block"])
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            xdb.put_stake_events(self.db, found)
            xdb.set_meta(self.db, {"stake_block": latest})

    # ------------------------------------------------------------------ nodes

    def sync_nodes(self) -> None:
        """Each node's /status: its records of the rounds it has not reported yet (and of
        its last two, which may still change), and whether it answered."""
        seen: list[dict[str, Any]] = []
        changed = False
        for url in self.nodes:
            try:
                status = fetch_json(url)
                address = str(status["address"])
                records = list(status.get("records", []))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                seen.append({"url": url, "ok": False, "error": str(exc)})
                continue
            seen.append(
                {
                    "url": url,
                    "ok": True,
                    "address": address,
                    "peer_id": status.get("peer_id"),
                    "phase": status.get("phase"),
                }
            )
            text = json.dumps(records, sort_keys=True)
            if self._records.get(url) == text:
                continue
            self._records[url] = text
            stored = xdb.node_rounds(self.db, address)
            last = max(stored, default=0)
            fresh = [
                rec for rec in records if rec["round"] not in stored or rec["round"] >= last - 1
            ]
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                xdb.put_node_records(self.db, address, fresh)
            self._dirty.update(int(rec["round"]) for rec in fresh)
            changed = True
        if changed or seen != xdb.meta(self.db, "nodes"):
            with self.db:
                version = int(xdb.meta(self.db, "version") or 0) + 1
                xdb.set_meta(self.db, {"nodes": seen, "version": version})


def status_endpoint(url: str) -> str:
    """A node's status URL: ``http://127.0.0.1:9100`` gets ``/status`` appended."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url if url.endswith("/status") else url + "/status"


def fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=NODE_TIMEOUT_S) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
