"""`fedchain round show N` as text: the round's lines and its tables (round_show.py
gathers the data)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from node.operator.format import fed
from node.operator.roundfacts import RETURNED
from node.operator.stopstate import percent, stop_rule_text


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
    if detail.get("agreed_metric_bps") is not None:
        console.print(
            f"  agreed metric    {percent(detail['agreed_metric_bps'])} (the winning voters' "
            "stake-weighted mean evaluation)"
        )
    if detail.get("stop_rule"):
        console.print(f"  stop rule        {stop_rule_text(detail['stop_rule'])}")
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
    for column in ("voter", "outcome", "model CID", "stake", "metric", "rejected", "tx"):
        table.add_column(column)
    for v in detail["votes"]:
        rejected = v["rejected"]
        table.add_row(
            v["voter"],
            v["outcome_id"][:18] + "…" + (" (winning)" if v["winning"] else ""),
            v["model_cid"] or "?",
            fed(v["weight"]),
            "?" if v.get("metric_bps") is None else percent(v["metric_bps"]),
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
