"""The rounds a node published DP updates in, kept in its data directory (privacy.json).

Written before the update leaves the node, so a crash never loses a spent round.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from node.privacy.accountant import DpRound

FILE = "privacy.json"


def load(data_dir: Path) -> list[DpRound]:
    path = data_dir / FILE
    if not path.is_file():
        return []
    return [DpRound(**row) for row in json.loads(path.read_text())]


def record(data_dir: Path, entry: DpRound) -> list[DpRound]:
    """Add ``entry`` (replacing one of the same round: a retrained round counts once per
    publication, and a crash before commit republishes the same update) and save."""
    rounds = [r for r in load(data_dir) if r.round != entry.round] + [entry]
    rounds.sort(key=lambda r: r.round)
    tmp = data_dir / (FILE + ".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in rounds]))
    os.replace(tmp, data_dir / FILE)
    return rounds
