"""The demo's PNGs: integer round ticks, a rewards chart that says nobody was paid, and one
label and colour per node on every chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.demo import report


def _nodes(reward: int) -> list[dict[str, Any]]:
    return [
        {"address": f"0x{i}bcdef0123456789", "role": "byzantine" if i == 3 else "honest",
         "attack": "boost" if i == 3 else "", "index": i, "reward": reward,
         "mean_phase_seconds": {"train": 1.0, "vote": 0.5}}
        for i in (2, 0, 3, 1)  # summaries come sorted by address, not by node index
    ]  # fmt: skip


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The figures the plots would save, by file name (axes stay inspectable)."""
    saved: dict[str, Any] = {}

    def keep(fig: Any, path: Path) -> Path:
        fig.canvas.draw()  # tick labels exist only once drawn
        saved[path.name] = fig
        return path

    monkeypatch.setattr(report, "_save", keep)
    return saved


def _texts(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def _ticks(fig: Any) -> list[tuple[str, Any]]:
    return [(t.get_text(), t.get_color()) for t in fig.axes[0].get_xticklabels()]


def test_rounds_are_whole_numbers_on_the_accuracy_chart(figures: dict[str, Any]) -> None:
    rows = [{"round": r, "accuracy": 0.5 + r / 10} for r in (1, 2, 3)]
    report.plot_accuracy(Path("."), rows, 0.1, "median", [0.2, 0.3, 0.4])
    ticks = [t for t in figures["accuracy.png"].axes[0].get_xticks() if 0 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_a_rewards_chart_without_rewards_says_so(figures: dict[str, Any]) -> None:
    report.plot_rewards(Path("."), _nodes(0))
    assert _texts(figures["rewards.png"]) == ["no rewards paid"]
    report.plot_rewards(Path("."), _nodes(10**18))
    assert _texts(figures["rewards.png"]) == []


def test_every_chart_names_and_colours_each_node_the_same(figures: dict[str, Any]) -> None:
    nodes = _nodes(10**18)
    report.plot_rewards(Path("."), nodes)
    report.plot_phases(Path("."), nodes)
    rewards, phases = _ticks(figures["rewards.png"]), _ticks(figures["phases.png"])
    assert rewards == phases
    assert [label.split()[0] for label, _ in rewards] == ["n2", "n0", "n3", "n1"]
    assert rewards[2] == ("n3 0x3bcdef…\nboost", "tab:red")
    assert {colour for _, colour in rewards[:2] + rewards[3:]} == {"tab:green"}
    bars = [p.get_facecolor() for p in figures["rewards.png"].axes[0].patches]
    assert bars[2] != bars[0] == bars[1] == bars[3]
