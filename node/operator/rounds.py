"""What the chain recorded per round, as rows and tables."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from node.chain.client import ChainClient, RoundStatus
from node.errors import FedchainError
from node.operator.format import TOKEN, fed
from node.operator.rewards import node_records


def round_rows(
    chain: ChainClient,
    only: int | None = None,
    me: str | None = None,
    node_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per round; ``me`` adds "your reward", ``only`` adds commitments and votes."""
    current = chain.current_round()
    if only is not None and not 1 <= only <= current:
        raise FedchainError(f"round {only} does not exist yet (current round: {current})")
    numbers = [only] if only is not None else list(range(1, current + 1))
    votes_by_round: dict[int, list[Any]] = {}
    for vote in chain.votes(only):
        votes_by_round.setdefault(vote.round, []).append(vote)
    earned: dict[int, int] = {}
    if me is not None:
        earned = dict(chain.claimed_rewards(me))
        for record in node_records(node_dir):
            earned.setdefault(int(record["round"]), int(record.get("earned", 0)))
    rows = []
    for r in numbers:
        info = chain.round_info(r)
        outcome = chain.finalized_outcome(r) if info.status is RoundStatus.FINALIZED else None
        votes = votes_by_round.get(r, [])
        row: dict[str, Any] = {
            "round": r,
            "status": info.status.name.lower(),
            "commits": info.commit_count,
            "eligible": info.eligible_count,
            "votes": len(votes),
            "model_cid": outcome.model_cid if outcome else None,
            "pool": info.contributor_pool + info.voter_pool,
            "contributor_pool": info.contributor_pool,
            "voter_pool": info.voter_pool,
            "claimed": info.contributor_claimed + info.voter_claimed,
        }
        if me is not None:
            voter_share = 0
            for vote in votes:
                if vote.voter == me and outcome and vote.outcome_key == info.outcome_key:
                    voter_share = info.voter_pool * vote.weight // max(1, info.winning_weight)
            row["your_reward"] = earned.get(r, 0) + voter_share
        if only is not None:
            row["commitments"] = chain.commitments(r)
            row["vote_list"] = [
                {
                    "voter": v.voter,
                    "outcome_id": "0x" + v.outcome_id.hex(),
                    "weight": v.weight,
                    "winning": v.outcome_key == info.outcome_key,
                }
                for v in votes
            ]
            row["info"] = {
                k: (v.hex() if isinstance(v, bytes) else v)
                for k, v in asdict(info).items()
                if k != "status"
            }
        rows.append(row)
    return rows


def print_rounds(rows: list[dict[str, Any]], console: Console, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no rounds yet")
        return
    console.print(rounds_table(rows))
    _round_details(rows, console)


def rounds_table(rows: list[dict[str, Any]]) -> Table:
    mine = any("your_reward" in row for row in rows)
    table = Table(title="rounds")
    columns = ["round", "status", "commits", "votes", "model CID", "pool (FED)"]
    for column in columns + (["your reward (FED)"] if mine else []):
        table.add_column(column)
    for row in rows:
        cells = [
            str(row["round"]),
            row["status"],
            f"{row['commits']}/{row['eligible']}",
            str(row["votes"]),
            row["model_cid"] or "-",
            f"{row['pool'] / TOKEN:.2f}",
        ]
        if mine:
            cells.append(f"{row.get('your_reward', 0) / TOKEN:.4f}")
        table.add_row(*cells)
    return table


def _round_details(rows: list[dict[str, Any]], console: Console) -> None:
    for row in rows:
        if "commitments" not in row:
            continue
        info = row["info"]
        console.print(
            f"round {row['round']}: opened {info['opened_at']}, commit deadline "
            f"{info['commit_deadline']}, vote deadline {info['vote_deadline']}, "
            f"stake snapshot {fed(info['stake_snapshot'])}"
        )
        for author, cid in sorted(row["commitments"].items()):
            console.print(f"  {author} committed {cid}")
        for vote in row["vote_list"]:
            mark = " (winning)" if vote["winning"] else ""
            console.print(
                f"  {vote['voter']} voted {vote['outcome_id'][:18]}... "
                f"weight {fed(vote['weight'])}{mark}"
            )
