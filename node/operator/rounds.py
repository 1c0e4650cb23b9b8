"""The rounds list: one row per round, as a table, JSON, or a live view.

Reads the local event index (index.py) and one batch of views for the rounds shown, so a
listing costs the same number of RPC requests at round 10 as at round 10 000.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from node.errors import FedchainError
from node.operator.format import TOKEN, fed
from node.operator.rewards import node_records
from node.operator.roundfacts import RETURNED, RoundFacts, ago, gather, local_time, now_for

if TYPE_CHECKING:
    from node.chain.client import ChainClient

DEFAULT_LAST = 20


def round_rows(
    chain: ChainClient,
    only: int | None = None,
    me: str | None = None,
    node_dir: Path | None = None,
    last: int | None = None,
) -> list[dict[str, Any]]:
    """One row per round (the ``last`` newest, or all); ``me`` adds "your reward"; ``only``
    shows one round and adds its commitments and votes."""
    from node.operator.index import open_index

    if last is not None and last < 1:
        raise FedchainError(f"--last must be at least 1, got {last}")
    index = open_index(chain)
    try:
        current = index.current_round()
        if only is not None and not 1 <= only <= current:
            raise FedchainError(f"round {only} does not exist yet (current round: {current})")
        if only is not None:
            numbers = [only]
        else:
            first = 1 if last is None else max(1, current - last + 1)
            numbers = list(range(first, current + 1))
        facts = gather(chain, index, numbers)
        now = now_for(index)
    finally:
        index.close()
    earned: dict[int, int] = {}
    if me is not None and node_dir is not None:
        shown = set(numbers)
        for record in node_records(node_dir):
            if int(record["round"]) in shown:
                earned[int(record["round"])] = int(record.get("earned", 0))
    rows = []
    for r in numbers:
        f = facts[r]
        row = _row(f, now)
        if me is not None:
            mine = f.rewards().get(_checksum_in(f, me), {})
            contributor = mine.get("contributor") or earned.get(r, 0)
            row["your_reward"] = contributor + mine.get("voter", 0)
        if only is not None:
            row.update(_detail(f))
        rows.append(row)
    return rows


def _row(f: RoundFacts, now: int) -> dict[str, Any]:
    info = f.info
    settled = f.finalized or f.failed
    return {
        "round": f.round,
        "status": f.status,
        "phase": f.phase(now),
        "opened_at": info.opened_at,
        "settled_at": settled["timestamp"] if settled else None,
        "commits": info.commit_count,
        "eligible": info.eligible_count,
        "votes": len(f.votes),
        "model_cid": f.finalized["args"]["modelCid"] if f.finalized else None,
        "pool": info.contributor_pool + info.voter_pool,
        "contributor_pool": info.contributor_pool,
        "voter_pool": info.voter_pool,
        "claimed": info.contributor_claimed + info.voter_claimed,
        "returned": f.returned(),  # to the treasury: failed, no_rewards, swept
        "slashes": f.slashed(),
        "rewards": f.rewards(),
        "tx": {
            "opened": f.opened["tx"] if f.opened else None,
            "settled": settled["tx"] if settled else None,
        },
    }


def _detail(f: RoundFacts) -> dict[str, Any]:
    """The ``--round N`` extras: commitments, votes and the raw round info."""
    info = f.info
    return {
        "commitments": {e["args"]["author"]: e["args"]["cid"] for e in f.commits},
        "vote_list": [
            {
                "voter": v["args"]["voter"],
                "outcome_id": v["args"]["outcomeId"],
                "weight": int(v["args"]["weight"]),
                "winning": f.winning(v),
            }
            for v in f.votes
        ],
        "info": {
            k: (v.hex() if isinstance(v, bytes) else v)
            for k, v in asdict(info).items()
            if k != "status"
        },
    }


def _checksum_in(f: RoundFacts, me: str) -> str:
    """``me`` spelled as the round's events spell it (checksum), whatever case was given."""
    for address in f.rewards():
        if address.lower() == me.lower():
            return address
    return me


# ---------------------------------------------------------------------- output


def print_rounds(rows: list[dict[str, Any]], console: Console, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no rounds yet")
        return
    console.print(rounds_table(rows))
    _round_details(rows, console)


def rounds_table(rows: list[dict[str, Any]], *, one_line: bool = False) -> Table:
    """The rounds as a table, oldest first; ``one_line`` keeps every row on one line (the
    live view counts rows to fit the terminal)."""
    mine = any("your_reward" in row for row in rows)
    # The chain's clock may run ahead of the wall clock on a devnet that skipped time.
    now = max([int(time.time())] + [row["settled_at"] or row["opened_at"] for row in rows])
    table = Table(title="rounds")
    columns = ["round", "status", "commits", "votes", "model CID", "pool (FED)"]
    columns += ["your reward (FED)"] if mine else []
    columns += ["slashed", "when"]
    for column in columns:
        if one_line:
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        cells = [
            str(row["round"]),
            row["status"] if row["status"] != "open" else row["phase"],
            f"{row['commits']}/{row['eligible']}",
            str(row["votes"]),
            row["model_cid"] or "-",
            f"{row['pool'] / TOKEN:.2f}",
        ]
        if mine:
            cells.append(f"{row.get('your_reward', 0) / TOKEN:.4f}")
        cells.append(str(len(row["slashes"])) if row["slashes"] else "-")
        cells.append(_when(row, now))
        table.add_row(*cells)
    return table


def _when(row: dict[str, Any], now: int) -> str:
    """How long ago the round settled (or opened, while open)."""
    return ago(row["settled_at"] or row["opened_at"], now)


def _round_details(rows: list[dict[str, Any]], console: Console) -> None:
    for row in rows:
        if "commitments" not in row:
            continue
        info = row["info"]
        console.print(
            f"round {row['round']}: opened {local_time(info['opened_at'])}, commit deadline "
            f"{local_time(info['commit_deadline'])}, vote deadline "
            f"{local_time(info['vote_deadline'])}, stake snapshot {fed(info['stake_snapshot'])}"
        )
        for author, cid in sorted(row["commitments"].items()):
            console.print(f"  {author} committed {cid}")
        for vote in row["vote_list"]:
            mark = " (winning)" if vote["winning"] else ""
            console.print(
                f"  {vote['voter']} voted {vote['outcome_id'][:18]}... "
                f"weight {fed(vote['weight'])}{mark}"
            )
        for account, amount in row["slashes"].items():
            console.print(f"  {account} slashed {fed(amount)}")
        for cause, amount in row["returned"].items():
            console.print(f"  {fed(amount)} back to the treasury ({RETURNED[cause]})")
        console.print(f"  more: `fedchain round show {row['round']}`")


# ---------------------------------------------------------------------- live view

WATCH_CHROME = 7  # lines around the rows: title, borders, header, the status line


def watch_rounds(
    fetch: Callable[[int], list[dict[str, Any]]],
    console: Console,
    last: int,
    as_json: bool,
    interval: float = 2.0,
) -> None:
    """Follow the newest rounds until Ctrl-C.

    The table shows the newest rounds that fit the terminal (at most ``last``), newest at
    the bottom, one line each, so the newest is never cut off. With ``as_json`` it prints
    one JSON line per round each time that round's row changes.
    """
    if as_json:
        _watch_json(fetch, last, interval)
        return
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    def frame() -> Group:
        fit = max(1, min(last, console.size.height - WATCH_CHROME))
        rows = fetch(fit)
        stamp = time.strftime("%H:%M:%S")
        note = Text(f"{len(rows)} newest rounds · updated {stamp} · Ctrl-C to stop", "dim")
        return Group(rounds_table(rows, one_line=True), note)

    with Live(frame(), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(frame(), refresh=True)
        except KeyboardInterrupt:
            pass


def _watch_json(fetch: Callable[[int], list[dict[str, Any]]], last: int, interval: float) -> None:
    shown: dict[int, str] = {}
    try:
        while True:
            for row in fetch(last):
                text = json.dumps(row, sort_keys=True)
                if shown.get(row["round"]) != text:
                    shown[row["round"]] = text
                    print(text, flush=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
