"""`round show --node-dir` carries the node's DP spend from its round record."""

from __future__ import annotations

from node.operator.round_show import _node_view
from node.operator.round_text import _privacy_text

SPENT = {"mode": "local", "epsilon": 1.5, "epsilon_update": 1.5, "delta": 1e-5, "rounds": 3}


def test_node_view_keeps_the_privacy_record() -> None:
    record = {"status": "finalized", "verified_authors": [], "privacy": SPENT}
    view = _node_view(record, {"commits": [], "model_cid": None})
    assert view["privacy"] == SPENT
    assert _node_view({"status": "x"}, {"commits": [], "model_cid": None})["privacy"] is None


def test_privacy_text() -> None:
    assert _privacy_text(None) == ""
    text = _privacy_text(SPENT)
    assert "local DP: epsilon 1.500" in text and "after 3 rounds" in text and "1e-05" in text
