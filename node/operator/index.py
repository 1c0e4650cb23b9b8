"""A local index of a deployment's round events, so reading rounds costs RPC calls per
round shown, not per round in history.

SQLite under ``$FEDCHAIN_CACHE_DIR`` (default ``~/.cache/fedchain``), one file per chain,
coordinator and RPC endpoint. ``sync`` reads only the blocks after the last indexed one (one
``eth_getLogs`` per 10 000 blocks) plus the last ``REORG_DEPTH`` again; if the block it
stopped at changed hash (a re-org, or a devnet started afresh at the same address) the
index starts over. It also keeps what never changes once read: settled rounds' fixed
``roundInfo`` fields, decoded ``submitOutcome`` calldata and block times.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.chain.errors import ChainUnreachable
from node.errors import ChainError

if TYPE_CHECKING:
    from node.chain.client import ChainClient, ChainEvent, RoundInfo

SCHEMA_VERSION = "2"  # 2: finalized_at cached; the events of the fixed-supply contracts
REORG_DEPTH = 8
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx TEXT NOT NULL,
    name TEXT NOT NULL, round INTEGER NOT NULL, account TEXT, args TEXT NOT NULL,
    ts INTEGER, PRIMARY KEY (block, log_index)
);
CREATE INDEX IF NOT EXISTS events_round ON events (round);
CREATE INDEX IF NOT EXISTS events_account ON events (account, name);
CREATE TABLE IF NOT EXISTS settled (round INTEGER PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (tx TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS block_times (block INTEGER PRIMARY KEY, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS claim_deadlines (round INTEGER PRIMARY KEY, at INTEGER NOT NULL);
"""
_ACCOUNT_ARG = {
    "Committed": "author",
    "OutcomeSubmitted": "voter",
    "Slashed": "account",
    "RewardClaimed": "account",
    "VoterRewardClaimed": "account",
    "ReportedInactive": "account",
}
# roundInfo fields that are final once a round finalized or failed (claims and late
# votes still move the others; those are read from events).
_FIXED = (
    "status",
    "opened_at",
    "commit_deadline",
    "closed_at",
    "vote_deadline",
    "eligible_count",
    "commit_count",
    "stake_snapshot",
    "reward_root",
    "contributor_pool",
    "voter_pool",
    "outcome_key",
    "finalized_at",
)


def cache_root() -> Path:
    override = os.environ.get("FEDCHAIN_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fedchain"


class RoundIndex:
    """The indexed events of one deployment (see the module doc)."""

    def __init__(self, path: Path, deploy_block: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.deploy_block = deploy_block
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        if self._meta("version") != SCHEMA_VERSION or self._meta("deploy_block") != str(
            deploy_block
        ):
            self._reset()
        self.chain_time = 0  # the latest block's time, after ``sync``

    @classmethod
    def for_chain(cls, chain: ChainClient) -> RoundIndex:
        d = chain.deployment
        # Per endpoint too: devnets side by side share chain id and coordinator address.
        endpoint = hashlib.sha256(chain.rpc_url.encode()).hexdigest()[:12]
        path = cache_root() / str(d.chain_id) / d.coordinator.lower() / f"{endpoint}.sqlite"
        return cls(path, d.deploy_block)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ sync

    def sync(self, chain: ChainClient) -> int:
        """Read the blocks the index lacks; returns the latest block number.

        Two HTTP requests when nothing happened: one batch (latest block, the block the
        index stopped at) and one ``eth_getLogs``.
        """
        synced = int(self._meta("synced_block") or -1)
        known_hash = self._meta("synced_hash")
        latest = seen = None
        if synced >= 0:
            try:
                latest, seen = chain.blocks(["latest", synced])
            except ChainUnreachable:
                raise
            except ChainError:  # e.g. "block not found": a newer, shorter devnet than ours
                seen = None
            if seen is None or seen.hash != known_hash:
                self._reset()
                synced = -1
        if latest is None:
            (latest,) = chain.blocks(["latest"])
        if latest is None:
            raise ChainError(f"{chain.rpc_url} returned no latest block")
        self.chain_time = latest.timestamp
        start = (
            self.deploy_block if synced < 0 else max(self.deploy_block, synced - REORG_DEPTH + 1)
        )
        events = chain.round_events(start, latest.number) if start <= latest.number else []
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM events WHERE block >= ?", (start,))
            self._db.executemany(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(e) for e in events],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO block_times VALUES (?, ?)",
                [(e.block, e.timestamp) for e in events if e.timestamp is not None]
                + [(latest.number, latest.timestamp)],
            )
            self._set_meta("synced_block", str(latest.number))
            self._set_meta("synced_hash", latest.hash)
        return latest.number

    # ------------------------------------------------------------------ queries

    def current_round(self) -> int:
        row = self._db.execute("SELECT MAX(round) FROM events WHERE name = 'RoundOpened'")
        value = row.fetchone()[0]
        return int(value) if value is not None else 0

    def events(
        self, rounds: Iterable[int] | None = None, *, names: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Indexed events (of ``rounds``, of the ``names`` kinds), in chain order."""
        sql = "SELECT block, log_index, tx, name, round, account, args, ts FROM events"
        where: list[str] = []
        params: list[Any] = []
        if rounds is not None:
            wanted = sorted(set(rounds))
            if not wanted:
                return []
            where.append(f"round IN ({','.join('?' * len(wanted))})")
            params += wanted
        if names:
            where.append(f"name IN ({','.join('?' * len(names))})")
            params += list(names)
        if where:
            sql += " WHERE " + " AND ".join(where)
        cur = self._db.execute(sql + " ORDER BY block, log_index", params)
        return [_event_dict(row) for row in cur.fetchall()]

    def events_of(self, account: str, names: Sequence[str]) -> list[dict[str, Any]]:
        """``account``'s events of the ``names`` kinds, in chain order."""
        marks = ",".join("?" * len(names))
        cur = self._db.execute(
            "SELECT block, log_index, tx, name, round, account, args, ts FROM events "
            f"WHERE account = ? AND name IN ({marks}) ORDER BY block, log_index",
            [account.lower(), *names],
        )
        return [_event_dict(row) for row in cur.fetchall()]

    # ------------------------------------------------------------------ cached reads

    def round_infos(self, chain: ChainClient, rounds: Sequence[int]) -> dict[int, RoundInfo]:
        """``roundInfo`` of each round: settled ones from the cache, the rest in one batch.

        Cached entries carry the fixed fields only; winning weight and claimed amounts
        come from the events (``winning_weight`` and ``claimed`` helpers in rounds.py).
        """
        from node.chain.client import RoundInfo, RoundStatus

        out: dict[int, RoundInfo] = {}
        marks = ",".join("?" * len(rounds))
        if rounds:
            cur = self._db.execute(
                f"SELECT round, info FROM settled WHERE round IN ({marks})", list(rounds)
            )
            for r, text in cur.fetchall():
                fields = json.loads(text)
                fields["status"] = RoundStatus(fields["status"])
                for key in ("reward_root", "outcome_key"):
                    fields[key] = bytes.fromhex(fields[key])
                out[int(r)] = RoundInfo(
                    round=int(r), winning_weight=0, contributor_claimed=0, voter_claimed=0, **fields
                )
        missing = [r for r in rounds if r not in out]
        fresh = chain.round_infos(missing) if missing else []
        settled = []
        for info in fresh:
            out[info.round] = info
            if info.status in (RoundStatus.FINALIZED, RoundStatus.FAILED):
                fixed = {k: v for k, v in asdict(info).items() if k in _FIXED}
                fixed["status"] = int(info.status)
                for key in ("reward_root", "outcome_key"):
                    fixed[key] = info.__dict__[key].hex()
                settled.append((info.round, json.dumps(fixed)))
        if settled:
            self._db.executemany("INSERT OR REPLACE INTO settled VALUES (?, ?)", settled)
        return out

    def outcome_calls(self, chain: ChainClient, txs: Sequence[str]) -> dict[str, Any]:
        """tx hash -> decoded ``submitOutcome`` arguments (None if not decodable), cached."""
        out: dict[str, Any] = {}
        unique = sorted(set(txs))
        if unique:
            marks = ",".join("?" * len(unique))
            cur = self._db.execute(f"SELECT tx, body FROM calls WHERE tx IN ({marks})", unique)
            out = {tx: json.loads(body) for tx, body in cur.fetchall()}
        missing = [t for t in unique if t not in out]
        if missing:
            decoded = chain.outcome_calls(missing)
            out.update(zip(missing, decoded, strict=True))
            self._db.executemany(
                "INSERT OR REPLACE INTO calls VALUES (?, ?)",
                [(t, json.dumps(d)) for t, d in zip(missing, decoded, strict=True)],
            )
        return out

    def claim_deadlines(self, chain: ChainClient, rounds: Sequence[int]) -> dict[int, int]:
        """round -> ``claimDeadline``, cached for rounds before the current one (settled:
        their vote deadline and claim period no longer change), the rest in one batch."""
        unique = sorted(set(rounds))
        out: dict[int, int] = {}
        if unique:
            marks = ",".join("?" * len(unique))
            cur = self._db.execute(
                f"SELECT round, at FROM claim_deadlines WHERE round IN ({marks})", unique
            )
            out = {int(r): int(at) for r, at in cur.fetchall()}
        missing = [r for r in unique if r not in out]
        if missing:
            out.update(zip(missing, chain.claim_deadlines(missing), strict=True))
            current = self.current_round()
            self._db.executemany(
                "INSERT OR REPLACE INTO claim_deadlines VALUES (?, ?)",
                [(r, out[r]) for r in missing if r < current],
            )
        return out

    def block_times(self, chain: ChainClient, blocks: Sequence[int]) -> dict[int, int]:
        """block -> timestamp, from the logs when the node sent them, else one batch."""
        unique = sorted(set(blocks))
        out: dict[int, int] = {}
        if unique:
            marks = ",".join("?" * len(unique))
            cur = self._db.execute(
                f"SELECT block, ts FROM block_times WHERE block IN ({marks})", unique
            )
            out = {int(b): int(t) for b, t in cur.fetchall()}
        missing = [b for b in unique if b not in out]
        if missing:
            found = chain.blocks(missing)
            fresh = {b.number: b.timestamp for b in found if b is not None}
            out.update(fresh)
            self._db.executemany("INSERT OR REPLACE INTO block_times VALUES (?, ?)", fresh.items())
        return out

    # ------------------------------------------------------------------ internals

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _reset(self) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for table in ("meta", "events", "settled", "calls", "block_times", "claim_deadlines"):
                self._db.execute(f"DELETE FROM {table}")
            self._set_meta("version", SCHEMA_VERSION)
            self._set_meta("deploy_block", str(self.deploy_block))


def open_index(chain: ChainClient) -> RoundIndex:
    """The chain's index, brought up to the latest block."""
    index = RoundIndex.for_chain(chain)
    index.sync(chain)
    return index


def _row(e: ChainEvent) -> tuple[Any, ...]:
    account = e.args.get(_ACCOUNT_ARG.get(e.name, ""))
    return (
        e.block,
        e.log_index,
        e.tx,
        e.name,
        e.round,
        account.lower() if isinstance(account, str) else None,
        json.dumps(e.args),
        e.timestamp,
    )


def _event_dict(row: Sequence[Any]) -> dict[str, Any]:
    block, log_index, tx, name, r, _, args, ts = row
    return {
        "name": name,
        "round": int(r),
        "args": json.loads(args),
        "block": int(block),
        "log_index": int(log_index),
        "tx": tx,
        "timestamp": ts,
    }
