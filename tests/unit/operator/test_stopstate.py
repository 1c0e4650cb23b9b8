"""The stop rule's bookkeeping, replayed and decoded (node/operator/stopstate.py)."""

from __future__ import annotations

import pytest

from node.chain.client import DeploymentEnd, StopReason
from node.explorer.chart import accuracy_svg
from node.operator.stopstate import (
    StopState,
    decode_word,
    end_of,
    replay,
    stop_rule_text,
    stop_rule_view,
)
from tests.unit.explorer.dom import parse


@pytest.mark.parametrize(
    ("metrics", "state"),
    [
        ([], StopState(0, 0, 0)),
        ([0], StopState(1, 0, 1)),  # 0 is no better than the initial best of 0
        ([6000, 7100, 7000, 7100, 5000], StopState(5, 7100, 3)),  # equal: no improvement
        ([6000, 7100, 7000, 7200], StopState(4, 7200, 0)),
        ([10_000, 10_000], StopState(2, 10_000, 1)),
    ],
)
def test_replay_follows_the_contract(metrics: list[int], state: StopState) -> None:
    assert replay(metrics) == state


def test_the_word_decodes_field_by_field() -> None:
    word = 5 | (7100 << 32) | (3 << 48) | (5 << 80)
    assert decode_word(word) == StopState(5, 7100, 3, finished_round=5)
    assert decode_word(0) == StopState(0, 0, 0, 0)


def test_view_and_text_of_a_finished_deployment() -> None:
    events = [
        {"name": "Finalized", "args": {}},
        {
            "name": "DeploymentFinished",
            "args": {"round": 5, "reason": 2, "metricBps": 5000, "modelCid": "bafyfinal"},
        },
    ]
    end = end_of(events)
    assert end == DeploymentEnd(5, StopReason.NO_IMPROVEMENT, 5000, "bafyfinal")
    params = {"target_metric_bps": 9500, "patience": 3, "max_rounds": 0}
    view = stop_rule_view(params, replay([6000, 7100, 7000, 7100, 5000]), end)
    assert view["rounds_without_improvement"] == 3 and view["best_metric_bps"] == 7100
    assert (view["finished"], view["reason"], view["final_model_cid"]) == (
        True,
        "no improvement",
        "bafyfinal",
    )
    assert stop_rule_text(view) == (
        "target 95.00%, patience 3; 5 finalized, best 71.00%, 3 without improvement; "
        "finished at round 5 (no improvement, 50.00%), final model bafyfinal"
    )
    running = stop_rule_view({}, None, end_of([]))
    assert running["finished"] is False and running["finalized_rounds"] is None
    assert stop_rule_text(running) == "off (no target, patience or round cap)"


def test_chart_draws_the_agreed_metric_next_to_the_accuracy() -> None:
    svg = parse(accuracy_svg([{"round": 2, "accuracy": 0.5}], [{"round": 1, "bps": 6000}]))
    agreed = svg.all("circle", cls="agreed")
    assert [(c.attrs["data-round"], c.attrs["data-bps"]) for c in agreed] == [("1", "6000")]
    assert len(svg.all("circle", cls="point")) == 1
    only_chain = parse(accuracy_svg([], [{"round": 1, "bps": 6000}, {"round": 2, "bps": 7000}]))
    assert len(only_chain.all("circle", cls="agreed")) == 2
    assert not only_chain.all("text", cls="empty")
