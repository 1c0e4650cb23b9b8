"""The demo's report.json and accuracy plot, built from node status files and the chain."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from node.chain.client import ChainClient


def round_rows(
    rounds: int,
    statuses: Mapping[str, Mapping[str, Any]],
    finalized: Mapping[int, str | None],
    slashed: Mapping[int, Mapping[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """One row per round: chain outcome (model, slashes) plus what each node computed
    (nodes outside the round's committee: not listed) and earned."""
    rows = []
    for r in range(1, rounds + 1):
        node_cids: dict[str, str | None] = {}
        rewards: dict[str, int] = {}
        accuracy = None
        status = "finalized" if finalized.get(r) else "missing"
        for address, node_status in sorted(statuses.items()):
            record = next((x for x in node_status.get("records", []) if x["round"] == r), None)
            if not (record and record.get("selected") is False):  # observers compute none
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
                "slashed": dict((slashed or {}).get(r, {})),
            }
        )
    return rows


def chain_stop_rule(chain: ChainClient, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each finalized row gets the chain's agreed metric (``agreed_metric_bps``: its
    winning voters' stake-weighted mean evaluation); returns the stop rule's state as the
    chain keeps it (node/operator/stopstate.py)."""
    from node.operator.stopstate import read_word, stop_rule_view

    finalized = [int(row["round"]) for row in rows if row["model_cid"]]
    agreed = dict(zip(finalized, chain.agreed_metrics(finalized), strict=True))
    for row in rows:
        row["agreed_metric_bps"] = agreed.get(int(row["round"]))
    return stop_rule_view(vars(chain.params()), read_word(chain), chain.deployment_end())


def node_summaries(
    roles: Mapping[str, str],
    statuses: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Per node: role, total reward and stake slashed, updates it rejected by reason,
    mean phase timings."""
    out = []
    for address, role in sorted(roles.items()):
        records = list(statuses.get(address, {}).get("records", []))
        rejected: dict[str, int] = {}
        timings: dict[str, list[float]] = {}
        for record in records:
            for reason in record.get("rejected", {}).values():
                rejected[reason] = rejected.get(reason, 0) + 1
            for phase, seconds in record.get("timings", {}).items():
                timings.setdefault(phase, []).append(float(seconds))
        out.append(
            {
                "address": address,
                "role": role,
                "reward": sum(int(r["reward"]) for r in records),
                "slashed": sum(int(row.get("slashed", {}).get(address, 0)) for row in rows),
                "rounds_slashed": sum(1 for row in rows if address in row.get("slashed", {})),
                "rejected_by_reason": rejected,
                "mean_phase_seconds": {k: round(sum(v) / len(v), 3) for k, v in timings.items()},
            }
        )
    return out


def byzantine_reward_share(nodes: Sequence[Mapping[str, Any]]) -> float:
    total = sum(int(n["reward"]) for n in nodes)
    byzantine = sum(int(n["reward"]) for n in nodes if n["role"] == "byzantine")
    return byzantine / total if total else 0.0


def verdict(
    rows: Sequence[Mapping[str, Any]],
    genesis_accuracy: float,
    rounds: int,
    honest: set[str] | None = None,
    max_byzantine_share: float | None = None,
    byzantine_share: float = 0.0,
    must_be_slashed: Mapping[str, set[int]] | None = None,
) -> list[str]:
    """Reasons the demo failed; empty when every round finalized and honest nodes agreed
    (and ``must_be_slashed`` nodes, address -> rounds in which they committed an invalid
    update, were slashed in each of those rounds that finalized)."""
    problems = []
    if len(rows) < rounds:
        problems.append(f"only {len(rows)} of {rounds} rounds ran")
    for row in rows:
        cids = {a: c for a, c in row["node_cids"].items() if honest is None or a in honest}
        if row["status"] != "finalized" or not row["model_cid"]:
            problems.append(f"round {row['round']} did not finalize ({row['status']})")
        elif any(cid != row["model_cid"] for cid in cids.values()):
            problems.append(f"round {row['round']}: honest nodes disagree on the model CID")
    final = rows[-1]["accuracy"] if rows else None
    if final is None or final <= genesis_accuracy:
        problems.append(
            "no round improved the model: final accuracy "
            f"{'unknown' if final is None else format(final, '.3f')} does not beat the "
            f"genesis model's {genesis_accuracy:.3f}"
        )
    if max_byzantine_share is not None and byzantine_share > max_byzantine_share:
        problems.append(
            f"Byzantine nodes earned {byzantine_share:.1%} of rewards "
            f"(max {max_byzantine_share:.0%})"
        )
    for address, committed in sorted((must_be_slashed or {}).items()):
        missed = [
            row["round"]
            for row in rows
            if row["round"] in committed
            and row["status"] == "finalized"
            and address not in row.get("slashed", {})
        ]
        if missed:
            problems.append(f"{address} sent invalid updates but was not slashed in {missed}")
    if honest is not None:
        for row in rows:
            wrongly = sorted(a for a in row.get("slashed", {}) if a in honest)
            if wrongly:
                problems.append(f"round {row['round']}: honest nodes slashed: {wrongly}")
    return problems


def committed_rounds(status: Mapping[str, Any]) -> set[int]:
    """Rounds in which a node (by its status file) committed an update."""
    return {int(r["round"]) for r in status.get("records", []) if r.get("committed")}


def write_report(out: Path, report: Mapping[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True))
    return path


def plot_accuracy(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    genesis_accuracy: float,
    rule: str = "",
    baseline: Sequence[float] | None = None,
) -> Path:
    """Accuracy of the finalized model per round; with ``baseline``, plain FedAvg under the
    same attack (simulated) alongside."""
    xs = [0] + [int(r["round"]) for r in rows]
    ys = [genesis_accuracy] + [
        r["accuracy"] if r["accuracy"] is not None else float("nan") for r in rows
    ]
    fig, ax = _axes()
    ax.plot(xs, ys, marker="o", label=f"{rule or 'this run'} (decentralized run)")
    if baseline is not None:
        bx = list(range(len(baseline) + 1))
        ax.plot(bx, [genesis_accuracy, *baseline], marker="x", linestyle="--",
                color="tab:red", label="FedAvg, same attack (simulated)")  # fmt: skip
        ax.legend(fontsize=8)
    _integer_ticks(ax)
    ax.set_xlabel("round (0 = genesis model)")
    ax.set_ylabel("test accuracy")
    ax.set_title("fedchain demo: accuracy of the finalized model per round")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    return _save(fig, out / "accuracy.png")


def node_label(node: Mapping[str, Any]) -> str:
    """The one label a node has on every chart: n<index>, address head, attack or role."""
    index = node.get("index")
    name = f"n{index}" if index is not None else ""
    return f"{name} {node['address'][:8]}…\n{node.get('attack') or node['role']}".strip()


def node_color(node: Mapping[str, Any]) -> str:
    return "tab:red" if node["role"] == "byzantine" else "tab:green"


def _node_axis(ax: Any, nodes: Sequence[Mapping[str, Any]]) -> None:
    """Nodes along x in the given order, labelled and coloured the same on every chart."""
    ax.set_xticks(range(len(nodes)), [node_label(n) for n in nodes], fontsize=7)
    for tick, node in zip(ax.get_xticklabels(), nodes, strict=True):
        tick.set_color(node_color(node))


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _axes() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4))


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_rewards(out: Path, nodes: Sequence[Mapping[str, Any]]) -> Path:
    """Rewards per node; a chart that says so when nobody was paid (not an empty plot)."""
    fig, ax = _axes()
    values = [int(n["reward"]) / 10**18 for n in nodes]
    ax.bar(range(len(nodes)), values, color=[node_color(n) for n in nodes])
    _node_axis(ax, nodes)
    ax.set_ylabel("rewards claimed (FED)")
    ax.set_title("rewards per node (green honest, red Byzantine)")
    if not any(values):
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no rewards paid", transform=ax.transAxes, ha="center",
                va="center", fontsize=14, color="dimgray")  # fmt: skip
    return _save(fig, out / "rewards.png")


def plot_phases(out: Path, nodes: Sequence[Mapping[str, Any]]) -> Path:
    phases = sorted({p for n in nodes for p in n["mean_phase_seconds"]})
    fig, ax = _axes()
    bottom = [0.0] * len(nodes)
    for phase in phases:
        values = [float(n["mean_phase_seconds"].get(phase, 0.0)) for n in nodes]
        ax.bar(range(len(nodes)), values, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _node_axis(ax, nodes)
    ax.set_ylabel("mean seconds per round")
    ax.set_title("time per phase (node labels: green honest, red Byzantine)")
    if phases:
        ax.legend(fontsize=7)
    return _save(fig, out / "phases.png")
