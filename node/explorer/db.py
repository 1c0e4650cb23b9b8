"""The explorer's own tables, next to the round event index (node/operator/index.py) in
the same SQLite file. Amounts are stored as decimal text: wei exceed SQLite's 64 bits."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS x_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS x_rounds (
    round INTEGER PRIMARY KEY, status TEXT NOT NULL, opened_at INTEGER NOT NULL,
    commit_deadline INTEGER NOT NULL, closed_at INTEGER NOT NULL,
    vote_deadline INTEGER NOT NULL, finalized_at INTEGER NOT NULL,
    contributor_pool TEXT NOT NULL, voter_pool TEXT NOT NULL, stake_snapshot TEXT NOT NULL,
    eligible INTEGER NOT NULL, commits INTEGER NOT NULL, model_cid TEXT, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS x_rewards (
    round INTEGER NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL, amount TEXT NOT NULL,
    PRIMARY KEY (round, address, kind)
);
CREATE INDEX IF NOT EXISTS x_rewards_address ON x_rewards (address);
CREATE TABLE IF NOT EXISTS x_participants (
    address TEXT PRIMARY KEY, stake TEXT NOT NULL, peer_id TEXT NOT NULL,
    addrs TEXT NOT NULL, active INTEGER NOT NULL, position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS x_stake_events (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx TEXT NOT NULL,
    name TEXT NOT NULL, address TEXT NOT NULL, args TEXT NOT NULL, ts INTEGER,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX IF NOT EXISTS x_stake_events_address ON x_stake_events (address);
CREATE TABLE IF NOT EXISTS x_node_records (
    node TEXT NOT NULL, round INTEGER NOT NULL, accuracy REAL, record TEXT NOT NULL,
    PRIMARY KEY (node, round)
);
CREATE INDEX IF NOT EXISTS x_node_records_round ON x_node_records (round);
"""
TABLES = ("x_meta", "x_rounds", "x_rewards", "x_participants", "x_stake_events", "x_node_records")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the index file (WAL: pages read while the sync task writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def reset(db: sqlite3.Connection) -> None:
    """Forget everything derived (the event index started over: a new devnet)."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")


def meta(db: sqlite3.Connection, key: str) -> Any:
    row = db.execute("SELECT value FROM x_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def set_meta(db: sqlite3.Connection, items: dict[str, Any]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO x_meta VALUES (?, ?)",
        [(k, json.dumps(v)) for k, v in items.items()],
    )


def put_rounds(db: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO x_rounds VALUES "
        "(:round, :status, :opened_at, :commit_deadline, :closed_at, :vote_deadline, "
        ":finalized_at, :contributor_pool, :voter_pool, :stake_snapshot, :eligible, :commits, "
        ":model_cid, :detail)",
        [
            {
                **r,
                "contributor_pool": str(r["contributor_pool"]),
                "voter_pool": str(r["voter_pool"]),
                "stake_snapshot": str(r["stake_snapshot"]),
                "detail": json.dumps(r["detail"]),
            }
            for r in rows
        ],
    )


def put_rewards(db: sqlite3.Connection, rows: Iterable[tuple[int, str, str, int]]) -> None:
    """(round, address, kind, amount) rows; kind: contributor or voter."""
    db.executemany(
        "INSERT OR REPLACE INTO x_rewards VALUES (?, ?, ?, ?)",
        [(r, a.lower(), k, str(v)) for r, a, k, v in rows],
    )


def round_row(db: sqlite3.Connection, r: int) -> dict[str, Any] | None:
    rows = round_rows(db, "WHERE round = ?", (r,))
    return rows[0] if rows else None


def round_rows(
    db: sqlite3.Connection, where: str = "", params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    cur = db.execute(f"SELECT * FROM x_rounds {where} ORDER BY round", params)
    names = [c[0] for c in cur.description]
    out = []
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        for key in ("contributor_pool", "voter_pool", "stake_snapshot"):
            row[key] = int(row[key])
        row["detail"] = json.loads(row["detail"])
        out.append(row)
    return out


def rewards(
    db: sqlite3.Connection, address: str | None = None, r: int | None = None
) -> list[tuple[int, str, str, int]]:
    """(round, address, kind, amount) rows, of ``address`` and/or round ``r``."""
    where: list[str] = []
    params: list[Any] = []
    if address is not None:
        where.append("address = ?")
        params.append(address.lower())
    if r is not None:
        where.append("round = ?")
        params.append(r)
    sql = "SELECT round, address, kind, amount FROM x_rewards"
    cur = db.execute(sql + (" WHERE " + " AND ".join(where) if where else ""), params)
    return [(int(n), a, k, int(v)) for n, a, k, v in cur.fetchall()]


def put_participants(db: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM x_participants")
        db.executemany(
            "INSERT INTO x_participants VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    p["address"].lower(),
                    str(p["stake"]),
                    p["peer_id"],
                    json.dumps(p["addrs"]),
                    int(p["active"]),
                    i,
                )
                for i, p in enumerate(rows)
            ],
        )


def participants(db: sqlite3.Connection) -> list[dict[str, Any]]:
    cur = db.execute(
        "SELECT address, stake, peer_id, addrs, active FROM x_participants ORDER BY position"
    )
    return [
        {"address": a, "stake": int(s), "peer_id": p, "addrs": json.loads(ad), "active": bool(ac)}
        for a, s, p, ad, ac in cur.fetchall()
    ]


def put_stake_events(db: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO x_stake_events VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e["block"],
                e["log_index"],
                e["tx"],
                e["name"],
                e["address"].lower(),
                json.dumps(e["args"]),
                e["timestamp"],
            )
            for e in rows
        ],
    )


def stake_events(db: sqlite3.Connection, address: str) -> list[dict[str, Any]]:
    cur = db.execute(
        "SELECT block, tx, name, args, ts FROM x_stake_events WHERE address = ? "
        "ORDER BY block, log_index",
        (address.lower(),),
    )
    return [
        {"block": b, "tx": tx, "name": n, "args": json.loads(a), "timestamp": ts}
        for b, tx, n, a, ts in cur.fetchall()
    ]


# What the pages use of a node's round record (its proofs and timings stay out).
RECORD_FIELDS = (
    "round",
    "status",
    "committed",
    "verified_authors",
    "rejected",
    "scores",
    "rewards",
    "model_cid",
    "finalized_cid",
    "accuracy",
    "earned",
    "reward",
    "privacy",  # the node's DP spend after the round (docs/privacy.md)
)


def put_node_records(db: sqlite3.Connection, node: str, records: Sequence[dict[str, Any]]) -> None:
    rows = []
    for rec in records:
        kept = {k: rec.get(k) for k in RECORD_FIELDS}
        accuracy = rec.get("accuracy")
        rows.append(
            (
                node.lower(),
                int(rec["round"]),
                float(accuracy) if isinstance(accuracy, int | float) else None,
                json.dumps(kept),
            )
        )
    db.executemany("INSERT OR REPLACE INTO x_node_records VALUES (?, ?, ?, ?)", rows)


def node_rounds(db: sqlite3.Connection, node: str) -> set[int]:
    cur = db.execute("SELECT round FROM x_node_records WHERE node = ?", (node.lower(),))
    return {int(r) for (r,) in cur.fetchall()}


def accuracies(db: sqlite3.Connection) -> dict[int, list[float]]:
    """round -> the accuracies the nodes reported for its finalized model."""
    out: dict[int, list[float]] = {}
    cur = db.execute(
        "SELECT round, accuracy FROM x_node_records WHERE accuracy IS NOT NULL ORDER BY round, node"
    )
    for r, a in cur.fetchall():
        out.setdefault(int(r), []).append(float(a))
    return out


def node_records(db: sqlite3.Connection, r: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(node address, record) pairs, of round ``r`` or of every round."""
    if r is None:
        cur = db.execute("SELECT node, record FROM x_node_records ORDER BY round, node")
    else:
        cur = db.execute(
            "SELECT node, record FROM x_node_records WHERE round = ? ORDER BY node", (r,)
        )
    return [(n, json.loads(rec)) for n, rec in cur.fetchall()]
