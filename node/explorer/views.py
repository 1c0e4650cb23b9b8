"""What each page shows, as plain data read from the index (the JSON twins return it as
is). Amounts in wei are decimal strings (JavaScript numbers lose them past 2**53)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from node.explorer import db as xdb

CLAIM_EVENTS = ("RewardClaimed", "VoterRewardClaimed")
RECENT_ROUNDS = 20
ECONOMY_ROUNDS = 60  # settled rounds in the rewards-and-slashes chart (the newest)


class NotFound(Exception):
    """The page names a round or participant the index does not know."""


def phase_of(row: dict[str, Any] | None, now: int) -> tuple[str, int]:
    """(phase, the next deadline's unix time or 0) of the newest round at chain time
    ``now``: open (past its vote deadline, waiting for the next advance), committing,
    voting, finalized, failed; idle before the first round."""
    if row is None:
        return "idle", 0
    if row["status"] != "open":
        return row["status"], 0
    if row["closed_at"] == 0 and now < row["commit_deadline"]:
        return "committing", row["commit_deadline"]
    if now < row["vote_deadline"]:
        return "voting", row["vote_deadline"]
    return "open", 0


def events(
    db: sqlite3.Connection,
    *,
    rounds: Sequence[int] | None = None,
    names: Sequence[str] = (),
    account: str | None = None,
) -> list[dict[str, Any]]:
    """Indexed chain events in chain order, block times filled from the index's cache."""
    where: list[str] = []
    params: list[Any] = []
    if rounds is not None:
        where.append(f"e.round IN ({','.join('?' * len(rounds))})")
        params += list(rounds)
    if names:
        where.append(f"e.name IN ({','.join('?' * len(names))})")
        params += list(names)
    if account is not None:
        where.append("e.account = ?")
        params.append(account.lower())
    sql = (
        "SELECT e.block, e.tx, e.name, e.round, e.args, COALESCE(e.ts, b.ts) FROM events e "
        "LEFT JOIN block_times b ON b.block = e.block"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    cur = db.execute(sql + " ORDER BY e.block, e.log_index", params)
    return [
        {"block": b, "tx": tx, "name": n, "round": int(r), "args": json.loads(a), "timestamp": ts}
        for b, tx, n, r, a, ts in cur.fetchall()
    ]


def _sum_by(items: Sequence[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for address, amount in items:
        out[address.lower()] = out.get(address.lower(), 0) + amount
    return out


def _rewards_by_address(db: sqlite3.Connection, address: str | None = None) -> dict[str, int]:
    return _sum_by([(a, v) for _, a, k, v in xdb.rewards(db, address) if a and k != "split"])


def _claimed_by_address(db: sqlite3.Connection, address: str | None = None) -> dict[str, int]:
    claims = events(db, names=CLAIM_EVENTS, account=address)
    return _sum_by([(e["args"]["account"], int(e["args"]["amount"])) for e in claims])


def overview(db: sqlite3.Connection) -> dict[str, Any]:
    deployment = xdb.meta(db, "deployment")
    if deployment is None:
        raise NotFound("nothing indexed yet")
    now = int(xdb.meta(db, "chain_time") or 0)
    current = int(xdb.meta(db, "current_round") or 0)
    rows = xdb.round_rows(db)
    by_round = {r["round"]: r for r in rows}
    phase, deadline = phase_of(by_round.get(current), now)
    accuracy = xdb.accuracies(db)
    points = [
        {
            "round": r["round"],
            "accuracy": round(sum(accuracy[r["round"]]) / len(accuracy[r["round"]]), 4),
        }
        for r in rows
        if r["status"] == "finalized" and r["round"] in accuracy
    ]
    earned = _rewards_by_address(db)
    claimed = _claimed_by_address(db)
    slashes = events(db, names=["Slashed"])
    slashed = _sum_by([(e["args"]["account"], int(e["args"]["amount"])) for e in slashes])
    pool = sum(r["contributor_pool"] + r["voter_pool"] for r in rows if r["status"] == "finalized")
    slashed_in: dict[int, int] = {}
    for e in slashes:
        slashed_in[e["round"]] = slashed_in.get(e["round"], 0) + int(e["args"]["amount"])
    settled = [r for r in rows if r["status"] in ("finalized", "failed")][-ECONOMY_ROUNDS:]
    participants = xdb.participants(db)
    params = xdb.meta(db, "params") or {}
    return {
        "deployment": deployment,
        "params": params,
        "chain_time": now,
        "latest_block": xdb.meta(db, "latest_block"),
        "synced_at": xdb.meta(db, "synced_at"),
        "current_round": current,
        "phase": phase,
        "deadline": deadline,
        "participants": [
            {**p, "stake": str(p["stake"]), "slashed": str(slashed.get(p["address"], 0))}
            for p in participants
        ],
        "accuracy": points,
        # the chain's agreed metric of each finalized round (its winning voters' mean)
        "agreed": [
            {"round": r["round"], "bps": agreed_bps(r)}
            for r in rows
            if r["status"] == "finalized" and agreed_bps(r) is not None
        ],
        "stop_rule": stop_rule(db, rows, params),
        "rewards": [
            {
                "address": a,
                "earned": str(earned.get(a, 0)),
                "claimed": str(claimed.get(a, 0)),
                "slashed": str(slashed.get(a, 0)),
            }
            for a in sorted(set(earned) | set(claimed) | {p["address"] for p in participants})
        ],
        "pool_total": str(pool),
        "paid_total": str(sum(earned.values())),
        "slashed_total": str(sum(slashed.values())),
        "economy": [
            {
                "round": r["round"],
                "pool": str(r["contributor_pool"] + r["voter_pool"])
                if r["status"] == "finalized"
                else "0",
                "slashed": str(slashed_in.get(r["round"], 0)),
            }
            for r in settled
        ],
        "counts": {
            "finalized": sum(r["status"] == "finalized" for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows),
        },
        "recent": [_round_summary(r) for r in rows[-RECENT_ROUNDS:][::-1]],
        "nodes": xdb.meta(db, "nodes") or [],
    }


def agreed_bps(row: dict[str, Any]) -> int | None:
    """A round row's agreed metric (None: not finalized, or indexed before it was kept)."""
    value = row["detail"].get("agreed_metric_bps")
    return None if value is None else int(value)


def stop_rule(
    db: sqlite3.Connection, rows: Sequence[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    """Where the chain's stop rule stands, replayed from the finalized rounds' agreed
    metrics (node/operator/stopstate.py); unknown while a finalized round lacks its."""
    from node.operator.stopstate import end_of, replay, stop_rule_view

    metrics = [agreed_bps(r) for r in rows if r["status"] == "finalized"]
    known = [m for m in metrics if m is not None]
    state = replay(known) if len(known) == len(metrics) else None
    end = end_of(events(db, names=["DeploymentFinished"]))
    return stop_rule_view(params, state, end)


def _round_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "round": row["round"],
        "agreed_bps": agreed_bps(row),
        "status": row["status"],
        "commits": row["commits"],
        "eligible": row["eligible"],
        "model_cid": row["model_cid"],
        "opened_at": row["opened_at"],
        "pool": str(row["contributor_pool"] + row["voter_pool"]),
    }
