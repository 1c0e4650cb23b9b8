"""NodeState: state files from before the opened_at column still open; forget drops a round."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from node.state import NodeState, RoundRow

OLD_SCHEMA = """
CREATE TABLE rounds (
    round INTEGER PRIMARY KEY, base_cid TEXT, update_cid TEXT,
    committed INTEGER NOT NULL DEFAULT 0, model_cid TEXT, reward_root TEXT,
    voted INTEGER NOT NULL DEFAULT 0, claimed INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0, record TEXT
)
"""


def test_old_state_file_gains_opened_at(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(OLD_SCHEMA)
        db.execute("INSERT INTO rounds (round, base_cid, committed) VALUES (3, 'bafy', 1)")
    state = NodeState(path)
    try:
        row = state.get(3)
        assert (row.base_cid, row.committed, row.opened_at) == ("bafy", True, None)
        assert state.update(3, opened_at=1234).opened_at == 1234
        assert state.get(3).opened_at == 1234
    finally:
        state.close()


def test_forget_starts_a_round_afresh(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "state.sqlite")
    try:
        state.update(1, base_cid="a", done=True, record="{}")
        state.update(2, base_cid="b", update_cid="c", committed=True, opened_at=5)
        state.forget(2)
        assert state.get(2) == RoundRow(2)  # nothing recorded any more
        assert state.get(1).base_cid == "a"
        assert state.first_round() == 1
    finally:
        state.close()
