"""The demo's report.json and accuracy plot, built from node status files and the chain."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def round_rows(
    rounds: int,
    statuses: Mapping[str, Mapping[str, Any]],
    finalized: Mapping[int, str | None],
) -> list[dict[str, Any]]:
    """One row per round: chain outcome plus what each node computed and earned."""
    rows = []
    for r in range(1, rounds + 1):
        node_cids: dict[str, str | None] = {}
        rewards: dict[str, int] = {}
        accuracy = None
        status = "finalized" if finalized.get(r) else "missing"
        for address, node_status in sorted(statuses.items()):
            record = next((x for x in node_status.get("records", []) if x["round"] == r), None)
            node_cids[address] = record["model_cid"] if record else None
            rewards[address] = int(record["reward"]) if record else 0
            if record and record.get("accuracy") is not None:
                accuracy = record["accuracy"]
            if record and record["status"] != "finalized":
                status = record["status"]
        rows.append(
            {
                "round": r,
                "status": status,
                "model_cid": finalized.get(r),
                "node_cids": node_cids,
                "accuracy": accuracy,
                "rewards": rewards,
            }
        )
    return rows


def verdict(rows: Sequence[Mapping[str, Any]], genesis_accuracy: float, rounds: int) -> list[str]:
    """Reasons the demo failed; empty when every round finalized and nodes agreed."""
    problems = []
    if len(rows) < rounds:
        problems.append(f"only {len(rows)} of {rounds} rounds ran")
    for row in rows:
        if row["status"] != "finalized" or not row["model_cid"]:
            problems.append(f"round {row['round']} did not finalize ({row['status']})")
        elif any(cid != row["model_cid"] for cid in row["node_cids"].values()):
            problems.append(f"round {row['round']}: nodes disagree on the model CID")
    final = rows[-1]["accuracy"] if rows else None
    if final is None or final <= genesis_accuracy:
        problems.append(
            f"final accuracy {final} does not beat the genesis model's {genesis_accuracy:.3f}"
        )
    return problems


def write_report(out: Path, report: Mapping[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True))
    return path


def plot_accuracy(out: Path, rows: Sequence[Mapping[str, Any]], genesis_accuracy: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [0] + [int(r["round"]) for r in rows]
    ys = [genesis_accuracy] + [
        r["accuracy"] if r["accuracy"] is not None else float("nan") for r in rows
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    ax.set_xlabel("round (0 = genesis model)")
    ax.set_ylabel("test accuracy")
    ax.set_title("fedchain demo: accuracy of the finalized model per round")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    path = out / "accuracy.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
