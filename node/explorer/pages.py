"""The round and participant pages' data, read from the index (see views.py)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from node.explorer import db as xdb
from node.explorer.views import CLAIM_EVENTS, NotFound, agreed_bps, events, phase_of

# chain event -> the round timeline's data-event
TIMELINE = {
    "RoundOpened": "opened",
    "Committed": "commit",
    "CommitClosed": "commit-closed",
    "OutcomeSubmitted": "vote",
    "Finalized": "finalized",
    "RoundFailed": "failed",
    "Slashed": "slash",
    "RewardClaimed": "claim",
    "VoterRewardClaimed": "claim",
    "Swept": "swept",
    "DeploymentFinished": "finished",  # the chain's stop rule fired with this round
}
CLAIM_COMMAND = "fedchain claim --node-dir NODE_DIR --deployment {deployment}"


def _calls(db: sqlite3.Connection, txs: list[str]) -> dict[str, Any]:
    """Decoded ``submitOutcome`` calldata the sync cached (index.py's ``calls`` table)."""
    if not txs:
        return {}
    cur = db.execute(f"SELECT tx, body FROM calls WHERE tx IN ({','.join('?' * len(txs))})", txs)
    return {tx: json.loads(body) for tx, body in cur.fetchall()}


def _who(e: dict[str, Any]) -> str | None:
    args = e["args"]
    return args.get("author") or args.get("voter") or args.get("account")


def round_page(db: sqlite3.Connection, n: int) -> dict[str, Any]:
    row = xdb.round_row(db, n)
    if row is None:
        current = int(xdb.meta(db, "current_round") or 0)
        raise NotFound(f"round {n} is not known (rounds 1..{current})")
    now = int(xdb.meta(db, "chain_time") or 0)
    evs = events(db, rounds=[n])
    calls = _calls(db, [e["tx"] for e in evs if e["name"] == "OutcomeSubmitted"])
    records = xdb.node_records(db, n)
    model_cid = row["model_cid"]
    # the split of a node that computed the finalized model (else any node's, marked)
    split = next(
        (rec for _, rec in records if model_cid and rec.get("model_cid") == model_cid), None
    )
    rewards = {a: v for _, a, k, v in xdb.rewards(db, r=n) if k == "contributor"}
    slashed: dict[str, int] = {}
    for e in evs:
        if e["name"] == "Slashed":
            account = e["args"]["account"].lower()
            slashed[account] = slashed.get(account, 0) + int(e["args"]["amount"])
    winning_key = ""
    finalized = next((e for e in evs if e["name"] == "Finalized"), None)
    if finalized is not None:
        winning_key = str(finalized["args"]["outcomeId"])
    authors = []
    for e in evs:
        if e["name"] != "Committed":
            continue
        author = e["args"]["author"]
        verdicts = {}
        for node, rec in records:
            rejected = rec.get("rejected") or {}
            verified = rec.get("verified_authors")
            if author in rejected:
                verdicts[node] = f"rejected: {rejected[author]}"
            elif verified is not None and author in verified:
                verdicts[node] = "verified"
            else:
                verdicts[node] = "not verified"
        score = (split or {}).get("scores", {}).get(author)
        authors.append(
            {
                "author": author,
                "cid": e["args"]["cid"],
                "tx": e["tx"],
                "verdicts": verdicts,
                "score": None if score is None else int(score),
                "reward": str(rewards.get(author.lower(), 0)),
                "slash": str(slashed.get(author.lower(), 0)),
            }
        )
    outcomes: dict[str, dict[str, Any]] = {}
    for e in evs:
        if e["name"] != "OutcomeSubmitted":
            continue
        oid = e["args"]["outcomeId"]
        call = calls.get(e["tx"])
        o = outcomes.setdefault(
            oid,
            {
                "outcome": oid,
                "model_cid": call["model_cid"] if call else None,
                "slash": call["slash"] if call else None,
                "stake": 0,
                "voters": [],
                "winning": bool(winning_key) and oid[:34] == winning_key[:34],
            },
        )
        o["stake"] += int(e["args"]["weight"])
        o["voters"].append(e["args"]["voter"])
        # each voter's evaluation of the model it voted for (None: calldata not readable)
        o.setdefault("metrics", {})[e["args"]["voter"]] = (call or {}).get("metric_bps")
    timeline = [
        {
            "event": TIMELINE[e["name"]],
            "name": e["name"],
            "who": _who(e),
            "at": e["timestamp"],
            "tx": e["tx"],
            "block": e["block"],
            "amount": str(e["args"]["amount"]) if "amount" in e["args"] else None,
        }
        for e in evs
        if e["name"] in TIMELINE
    ]
    phase, deadline = phase_of(row, now)
    return {
        "round": n,
        "status": row["status"],
        "phase": phase,
        "deadline": deadline,
        "chain_time": now,
        "opened_at": row["opened_at"],
        "commit_deadline": row["commit_deadline"],
        "closed_at": row["closed_at"],
        "vote_deadline": row["vote_deadline"],
        "eligible": row["eligible"],
        "commits": row["commits"],
        "stake_snapshot": str(row["stake_snapshot"]),
        "contributor_pool": str(row["contributor_pool"]),
        "voter_pool": str(row["voter_pool"]),
        "model_cid": model_cid,
        "agreed_bps": agreed_bps(row),  # the chain's agreed metric (finalized rounds)
        "returned": {k: str(v) for k, v in row["detail"].get("returned", {}).items()},
        "timeline": timeline,
        "authors": authors,
        "outcomes": sorted(
            ({**o, "stake": str(o["stake"])} for o in outcomes.values()),
            key=lambda o: -int(o["stake"]),
        ),
        "reporting_nodes": [node for node, _ in records],
        "split_from_node": split is not None,
        "accuracy": {node: rec.get("accuracy") for node, rec in records},
        # each reporting node's DP spend after this round (records without DP: left out)
        "privacy": {node: rec["privacy"] for node, rec in records if rec.get("privacy")},
    }


def participant_page(db: sqlite3.Connection, address: str, deployment_file: str) -> dict[str, Any]:
    address = address.lower()
    entry = next((p for p in xdb.participants(db) if p["address"] == address), None)
    mine = events(db, account=address)
    stake = xdb.stake_events(db, address)
    if entry is None and not mine and not stake:
        raise NotFound(f"{address} never registered nor took part in a round")
    rounds: dict[int, dict[str, Any]] = {}

    def of(n: int) -> dict[str, Any]:
        blank = {"committed": False, "voted": False, "earned": 0, "claimed": 0, "slashed": 0}
        return rounds.setdefault(n, {"round": n, **blank})

    for e in mine:
        if not e["round"]:
            continue
        r = of(e["round"])
        if e["name"] == "Committed":
            r["committed"] = True
        elif e["name"] == "OutcomeSubmitted":
            r["voted"] = True
        elif e["name"] in CLAIM_EVENTS:
            r["claimed"] += int(e["args"]["amount"])
        elif e["name"] == "Slashed":
            r["slashed"] += int(e["args"]["amount"])
    for n, _, kind, amount in xdb.rewards(db, address):
        if kind != "split":
            of(n)["earned"] += amount
    earned = sum(r["earned"] for r in rounds.values())
    claimed = sum(r["claimed"] for r in rounds.values())
    slashes = []
    for e in mine:
        if e["name"] != "Slashed":
            continue
        slashes.append(
            {
                "round": e["round"],
                "amount": str(e["args"]["amount"]),
                "tx": e["tx"],
                "at": e["timestamp"],
                "reason": _slash_reason(db, e["round"], e["args"]["account"]),
            }
        )
    history = [
        {
            "name": e["name"],
            "at": e["timestamp"],
            "tx": e["tx"],
            "block": e["block"],
            "amount": str(e["args"].get("amount", e["args"].get("stake", ""))),
            "round": e["round"] if e["name"] == "Slashed" else None,
        }
        for e in sorted(
            stake + [e for e in mine if e["name"] == "Slashed"], key=lambda e: e["block"]
        )
    ]
    return {
        "address": address,
        "stake": str(entry["stake"]) if entry else "0",
        "active": bool(entry and entry["active"]),
        "peer_id": entry["peer_id"] if entry else None,
        "addrs": entry["addrs"] if entry else [],
        "stake_history": history,
        "rounds": [
            {
                **r,
                "earned": str(r["earned"]),
                "claimed": str(r["claimed"]),
                "slashed": str(r["slashed"]),
            }
            for r in sorted(rounds.values(), key=lambda r: r["round"])
        ],
        "earned": str(earned),
        "claimed": str(claimed),
        "unclaimed": str(max(0, earned - claimed)),
        "claim_command": CLAIM_COMMAND.format(deployment=deployment_file),
        "slashes": slashes,
    }


def _slash_reason(db: sqlite3.Connection, r: int, account: str) -> str:
    """Why ``account`` was slashed in round ``r``: the reasons the reporting nodes
    rejected its update for, else that the finalized outcome's slash list named it."""
    reasons = sorted(
        {
            str(rec["rejected"][key])
            for _, rec in xdb.node_records(db, r)
            for key in (rec.get("rejected") or {})
            if key.lower() == account.lower()
        }
    )
    if reasons:
        return "; ".join(reasons)
    return "named in the finalized outcome's slash list (invalid or withheld update)"
