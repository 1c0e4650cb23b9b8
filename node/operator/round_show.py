"""`fedchain round show N`: one round as the chain recorded it, and as a node saw it.

Times are chain timestamps as local ISO times with their age; every step names its
transaction. What each voter rejected is the slash list of its ``submitOutcome`` call,
decoded from the transaction's calldata. With a node directory, the node's own record
adds its verdict on each author (verified, or rejected with the reason), the scores and
its reward split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from node.errors import FedchainError
from node.operator.format import fed
from node.operator.rewards import node_records
from node.operator.roundfacts import RETURNED, RoundFacts, ago, gather, local_time, now_for

if TYPE_CHECKING:
    from node.chain.client import ChainClient


def round_detail(chain: ChainClient, r: int, node_dir: Path | None = None) -> dict[str, Any]:
    """Everything about round ``r`` as plain data (the ``--json`` document)."""
    from node.operator.index import open_index

    record = _node_record(node_dir, r)
    index = open_index(chain)
    try:
        current = index.current_round()
        if not 1 <= r <= current:
            raise FedchainError(
                f"round {r} does not exist yet (current round: {current}): "
                "`fedchain rounds` lists the rounds"
            )
        f = gather(chain, index, [r])[r]
        calls = index.outcome_calls(chain, [v["tx"] for v in f.votes])
        now = now_for(index)
        claim_deadline = chain.claim_deadline(r) if f.finalized else 0
        committee = chain.committee(r)
    finally:
        index.close()
    info = f.info
    settled = f.finalized or f.failed
    detail: dict[str, Any] = {
        "round": r,
        "status": f.status,
        "phase": f.phase(now),
        "now": now,
        "times": _times(f, now, claim_deadline),
        "eligible": info.eligible_count,
        # the members drawn for the round in draw order; None: every active participant
        "committee": committee,
        "commit_count": info.commit_count,
        "stake_snapshot": info.stake_snapshot,
        "contributor_pool": info.contributor_pool,
        "voter_pool": info.voter_pool,
        "model_cid": f.finalized["args"]["modelCid"] if f.finalized else None,
        "reward_root": f.finalized["args"]["rewardRoot"] if f.finalized else None,
        "outcome_id": f.finalized["args"]["outcomeId"] if f.finalized else None,
        # the finalized outcome's slash list (only committers in it lose stake)
        "slash_list": f.finalized["args"].get("slash", []) if f.finalized else [],
        "returned": f.returned(),
        "params_applied": f.params_applied is not None,
        "settled_tx": settled["tx"] if settled else None,
        "commits": [
            {
                "author": e["args"]["author"],
                "cid": e["args"]["cid"],
                "tx": e["tx"],
                "block": e["block"],
                "at": e["timestamp"],
            }
            for e in f.commits
        ],
        "votes": [_vote(f, v, calls.get(v["tx"])) for v in f.votes],
        "slashes": [
            {"account": e["args"]["account"], "amount": int(e["args"]["amount"]), "tx": e["tx"]}
            for e in f.slashes
        ],
        "rewards": f.rewards(),
    }
    detail["outcomes"] = _outcomes(detail["votes"])
    if record is not None:
        detail["node"] = _node_view(record, detail)
    return detail


def _times(f: RoundFacts, now: int, claim_deadline: int) -> dict[str, Any]:
    info = f.info

    def stamp(ts: int | None, event: dict[str, Any] | None = None) -> dict[str, Any] | None:
        if not ts:
            return None
        out: dict[str, Any] = {"at": ts, "local": local_time(ts), "ago": ago(ts, now)}
        if event is not None:
            out.update(tx=event["tx"], block=event["block"])
        return out

    settled = f.finalized or f.failed
    return {
        "opened": stamp(info.opened_at, f.opened),
        "commit_deadline": stamp(info.commit_deadline),
        "commit_closed": stamp(info.closed_at, f.closed),
        "vote_deadline": stamp(info.vote_deadline),
        "settled": stamp(settled["timestamp"], settled) if settled else None,
        "claim_deadline": stamp(claim_deadline),
        "swept": stamp(f.swept["timestamp"], f.swept) if f.swept else None,
    }


def _vote(f: RoundFacts, v: dict[str, Any], call: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "voter": v["args"]["voter"],
        "outcome_id": v["args"]["outcomeId"],
        "weight": int(v["args"]["weight"]),
        "winning": f.winning(v),
        "model_cid": call["model_cid"] if call else None,
        "reward_root": call["reward_root"] if call else None,
        # None: the calldata could not be read (e.g. the vote came through a contract)
        "rejected": call["slash"] if call else None,
        "tx": v["tx"],
        "at": v["timestamp"],
    }


def _outcomes(votes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct outcomes voted for, most stake first."""
    by_id: dict[str, dict[str, Any]] = {}
    for v in votes:
        o = by_id.setdefault(
            v["outcome_id"],
            {
                "outcome_id": v["outcome_id"],
                "model_cid": v["model_cid"],
                "reward_root": v["reward_root"],
                "slash": v["rejected"],
                "stake": 0,
                "voters": [],
                "winning": v["winning"],
            },
        )
        o["stake"] += v["weight"]
        o["voters"].append(v["voter"])
    return sorted(by_id.values(), key=lambda o: -o["stake"])


def _node_record(node_dir: Path | None, r: int) -> dict[str, Any] | None:
    for record in node_records(node_dir):
        if int(record["round"]) == r:
            return record
    return None


def _node_view(record: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """The node's own view of the round, from its state (older records lack the per-author
    fields: then only the counts are known)."""
    authors = [c["author"] for c in detail["commits"]]
    verified = record.get("verified_authors")
    rejected = dict(record.get("rejected", {}))
    verdicts: dict[str, str] = {}
    for author in authors:
        if author in rejected:
            verdicts[author] = f"rejected: {rejected[author]}"
        elif verified is not None:
            verdicts[author] = "verified" if author in verified else "not verified"
        else:  # a record from before per-author verdicts: the others were verified
            verdicts[author] = "verified" if record.get("verified") else "-"
    agrees = record.get("model_cid") is not None and record.get("model_cid") == detail["model_cid"]
    return {
        "status": record.get("status"),
        "committed": record.get("committed"),
        "verified": len(verified) if verified is not None else record.get("verified", 0),
        "verdicts": verdicts,
        "rejected": rejected,
        "scores": {a: int(s) for a, s in record.get("scores", {}).items()},
        "rewards": {a: int(s) for a, s in record.get("rewards", {}).items()},
        "model_cid": record.get("model_cid"),
        "agrees_with_chain": agrees,
        "accuracy": record.get("accuracy"),
        "earned": int(record.get("earned", 0)),
        "claimed": int(record.get("reward", 0)),
        "privacy": record.get("privacy"),  # DP spend after this round (docs/privacy.md)
    }


# ---------------------------------------------------------------------- output


def print_round(detail: dict[str, Any], console: Console, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(detail))
        return
    t = detail["times"]
    r = detail["round"]
    console.print(f"[bold]round {r}[/bold] · {detail['phase']}")
    applied = "  [the owner's staged parameter changes took effect]"
    _line(console, "opened", t["opened"], "" if not detail.get("params_applied") else applied)
    console.print(f"  commit deadline  {_at(t['commit_deadline'])}")
    if t["commit_closed"]:
        _line(
            console,
            "commits closed",
            t["commit_closed"],
            f"early: {detail['commit_count']}/{detail['eligible']} committed",
        )
    console.print(f"  vote deadline    {_at(t['vote_deadline'])}")
    if t["settled"]:
        _line(console, detail["status"], t["settled"])
    if t.get("claim_deadline"):
        console.print(f"  claims end       {_at(t['claim_deadline'])}")
    _line(console, "swept", t.get("swept"))
    console.print(
        f"  stake snapshot   {fed(detail['stake_snapshot'])} of {detail['eligible']} eligible; "
        f"pools: contributors {fed(detail['contributor_pool'])}, voters "
        f"{fed(detail['voter_pool'])}"
    )
    committee = detail.get("committee")
    if committee is not None:
        members = ", ".join(_short(a) for a in committee)
        console.print(f"  committee        {len(committee)} drawn by stake: {members}")
    if detail["model_cid"]:
        console.print(f"  model            {detail['model_cid']}")
        console.print(f"  reward root      {detail['reward_root']}")
    for cause, amount in detail.get("returned", {}).items():
        console.print(f"  to the treasury  {fed(amount)} ({RETURNED[cause]})")
    unslashed = sorted(
        set(detail.get("slash_list", [])) - {s["account"] for s in detail["slashes"]}
    )
    if unslashed:
        console.print(
            f"  slash list also named {', '.join(_short(a) for a in unslashed)} "
            "(not slashed: only committers of the round can be)"
        )
    console.print(_authors_table(detail))
    if detail["votes"]:
        console.print(_votes_table(detail))
    if detail["rewards"]:
        console.print(_rewards_table(detail))
    node = detail.get("node")
    if node is not None:
        agree = "agrees with" if node["agrees_with_chain"] else "differs from"
        accuracy = node["accuracy"]
        console.print(
            f"this node: verified {node['verified']}, rejected {len(node['rejected'])}; its "
            f"model {agree} the chain's"
            + (f"; accuracy {accuracy:.4f}" if isinstance(accuracy, int | float) else "")
            + f"; earned {fed(node['earned'])}"
            + _privacy_text(node.get("privacy"))
        )


def _privacy_text(spent: dict[str, Any] | None) -> str:
    if not spent:
        return ""
    return (
        f"; {spent['mode']} DP: epsilon {spent['epsilon']:.3f} (its updates as peers see "
        f"them {spent['epsilon_update']:.3f}) at delta {spent['delta']:g} after "
        f"{spent['rounds']} rounds"
    )


def _at(stamp: dict[str, Any] | None) -> str:
    return "-" if stamp is None else f"{stamp['local']} ({stamp['ago']})"


def _line(console: Console, label: str, stamp: dict[str, Any] | None, note: str = "") -> None:
    if stamp is None:
        return
    extra = f"  [{note}]" if note else ""
    tx = f"  block {stamp['block']} tx {stamp['tx']}" if "tx" in stamp else ""
    console.print(f"  {label:<16} {_at(stamp)}{tx}{extra}")


def _authors_table(detail: dict[str, Any]) -> Table:
    node = detail.get("node")
    slashed = {s["account"]: s["amount"] for s in detail["slashes"]}
    rejected_by: dict[str, list[str]] = {}
    for v in detail["votes"]:
        for author in v["rejected"] or []:
            rejected_by.setdefault(author, []).append(v["voter"])
    table = Table(title=f"round {detail['round']}: who committed what")
    columns = ["author", "CID", "rejected by (voters)", "slashed"]
    if node is not None:
        columns += ["this node", "score", "reward (node's split)"]
    for column in columns:
        table.add_column(column)
    for c in detail["commits"]:
        author = c["author"]
        voters = rejected_by.get(author, [])
        cells = [
            author,
            c["cid"],
            ", ".join(_short(v) for v in voters) or "-",
            fed(slashed[author]) if author in slashed else "-",
        ]
        if node is not None:
            cells += [
                node["verdicts"].get(author, "-"),
                str(node["scores"].get(author, "-")),
                fed(node["rewards"][author]) if author in node["rewards"] else "-",
            ]
        table.add_row(*cells)
    return table


def _votes_table(detail: dict[str, Any]) -> Table:
    table = Table(title="votes (rejected = the slash list the voter submitted)")
    for column in ("voter", "outcome", "model CID", "stake", "rejected", "tx"):
        table.add_column(column)
    for v in detail["votes"]:
        rejected = v["rejected"]
        table.add_row(
            v["voter"],
            v["outcome_id"][:18] + "…" + (" (winning)" if v["winning"] else ""),
            v["model_cid"] or "?",
            fed(v["weight"]),
            "?" if rejected is None else (", ".join(_short(a) for a in rejected) or "none"),
            v["tx"],
        )
    return table


def _rewards_table(detail: dict[str, Any]) -> Table:
    table = Table(title="rewards (contributor rewards show once claimed)")
    for column in ("address", "contributor", "voter", "total"):
        table.add_column(column)
    for address, rw in detail["rewards"].items():
        voter = fed(rw["voter"]) + ("" if rw["voter_claimed"] else " (unclaimed)")
        if not rw["voter"]:
            voter = "-"
        table.add_row(
            address,
            fed(rw["contributor"]) if rw["contributor"] else "-",
            voter,
            fed(rw["contributor"] + rw["voter"]),
        )
    return table


def _short(address: str) -> str:
    return address[:8] + "…" + address[-4:]
