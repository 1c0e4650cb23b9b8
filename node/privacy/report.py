"""Each node's DP spend per round, from the nodes' status documents (for report.json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def privacy_per_node(statuses: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict]]:
    """address -> [{round, epsilon, epsilon_update, rounds}] over its records with DP."""
    out: dict[str, list[dict]] = {}
    for address, status in statuses.items():
        out[address] = [
            {
                "round": record["round"],
                "epsilon": record["privacy"]["epsilon"],
                "epsilon_update": record["privacy"]["epsilon_update"],
                "rounds": record["privacy"]["rounds"],
            }
            for record in status.get("records", [])
            if record.get("privacy")
        ]
    return out
