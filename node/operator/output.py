"""Printing an operator command's result for people or as JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console


def print_result(result: dict[str, Any], console: Console, as_json: bool) -> None:
    """Notes, then the message (or the JSON document)."""
    if as_json:
        console.print_json(json.dumps(result))
        return
    for note in result.get("notes", []):
        console.print(note)
    console.print(result["message"])
