"""status.json: a new record is written at once, phase changes at most once a second."""

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from node import status_file
from node.state import NodeState
from node.status_pace import StatusPace


def test_without_a_flusher_every_write_is_at_once() -> None:
    pace = StatusPace()
    pace.wrote(0)
    assert pace.at_once(0)


def test_a_phase_change_right_after_a_write_waits_for_the_flusher() -> None:
    pace = StatusPace(flushing=True)
    pace.wrote(3)
    assert not pace.at_once(3)
    assert pace.pending


def test_a_new_record_is_written_at_once() -> None:
    pace = StatusPace(flushing=True)
    pace.wrote(3)
    assert pace.at_once(4)


def test_records_version_moves_with_records_only(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "state.sqlite")
    v0 = state.records_version
    state.update(1, base_cid="b")
    assert state.records_version == v0
    state.finish(1, {"round": 1})
    state.forget(1)
    assert state.records_version == v0 + 2
    state.close()


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    monkeypatch.setattr(status_file, "status_document", lambda ctx, phase: {"phase": phase})
    state = NodeState(tmp_path / "state.sqlite")
    yield SimpleNamespace(
        phase="", cfg=SimpleNamespace(data_dir=tmp_path), state=state, status_pace=StatusPace()
    )
    state.close()


def read_phase(ctx: SimpleNamespace) -> str:
    return str(json.loads((ctx.cfg.data_dir / "status.json").read_text())["phase"])


def test_write_status_defers_a_phase_and_writes_records_at_once(ctx: SimpleNamespace) -> None:
    status_file.write_status(ctx, "idle")  # type: ignore[arg-type]
    ctx.status_pace.flushing = True
    status_file.write_status(ctx, "round 2")  # type: ignore[arg-type]
    assert read_phase(ctx) == "idle" and ctx.phase == "round 2"
    ctx.state.finish(2, {"round": 2})
    status_file.write_status(ctx, "idle")  # type: ignore[arg-type]
    assert read_phase(ctx) == "idle" and not ctx.status_pace.pending
    status_file.write_status(ctx, "stopped", at_once=True)  # type: ignore[arg-type]
    assert read_phase(ctx) == "stopped"
    assert "\n" not in (ctx.cfg.data_dir / "status.json").read_text()  # compact
