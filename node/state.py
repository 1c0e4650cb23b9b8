"""Per-round node state in SQLite, written before every on-chain action.

A node killed at any point restarts from here and the chain: it never commits or votes
twice for a round because the intent is recorded first and the chain is asked before
acting again. The flags ``committed / voted / claimed`` record what the chain showed; the
round code reads the chain back before trusting them (a restarted chain may have lost
the action; see docs/protocol.md, "Chain faults").
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    base_cid TEXT,
    update_cid TEXT,
    committed INTEGER NOT NULL DEFAULT 0,
    model_cid TEXT,
    reward_root TEXT,
    voted INTEGER NOT NULL DEFAULT 0,
    claimed INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    record TEXT,
    opened_at INTEGER
)
"""
# Columns added since the first schema: (name, type), added to older state files on open.
_ADDED = (("opened_at", "INTEGER"),)


@dataclass
class RoundRow:
    round: int
    base_cid: str | None = None
    update_cid: str | None = None
    committed: bool = False
    model_cid: str | None = None
    reward_root: str | None = None
    voted: bool = False
    claimed: bool = False
    done: bool = False
    record: str | None = None
    opened_at: int | None = None  # the chain's opening time of the round the row is about


class NodeState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(rounds)")}
        for name, kind in _ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE rounds ADD COLUMN {name} {kind}")
        # moved by every change of the records (status.json writes a new one at once)
        self.records_version = 0

    def close(self) -> None:
        self._db.close()

    def get(self, round_id: int) -> RoundRow:
        cur = self._db.execute("SELECT * FROM rounds WHERE round = ?", (round_id,))
        row = cur.fetchone()
        if row is None:
            return RoundRow(round_id)
        names = [d[0] for d in cur.description]
        values = dict(zip(names, row, strict=True))
        for flag in ("committed", "voted", "claimed", "done"):
            values[flag] = bool(values[flag])
        return RoundRow(**values)

    def update(self, round_id: int, **changes: Any) -> RoundRow:
        row = asdict(self.get(round_id))
        row.update(changes)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._db.execute(
            f"INSERT OR REPLACE INTO rounds ({cols}) VALUES ({marks})", tuple(row.values())
        )
        if "record" in changes or "done" in changes:
            self.records_version += 1
        return RoundRow(**row)

    def forget(self, round_id: int) -> None:
        """Drop everything recorded about a round the chain no longer has (it was restarted
        from a state older than the round's opening): the round starts afresh."""
        self._db.execute("DELETE FROM rounds WHERE round = ?", (round_id,))
        self.records_version += 1

    def first_round(self) -> int | None:
        """The first round this node ever touched (None for a fresh data directory)."""
        row = self._db.execute("SELECT MIN(round) FROM rounds").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def finish(self, round_id: int, record: dict[str, Any]) -> None:
        self.update(round_id, done=True, record=json.dumps(record, sort_keys=True))

    def records(self) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT record FROM rounds WHERE done = 1 ORDER BY round")
        return [json.loads(r[0]) for r in cur.fetchall() if r[0]]
