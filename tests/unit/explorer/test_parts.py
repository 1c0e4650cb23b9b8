"""Pure parts of the explorer: phase and deadline, the chart, input checks."""

from __future__ import annotations

import pytest

from node.explorer.chart import accuracy_svg
from node.explorer.sync import status_endpoint
from node.explorer.validate import BadInput, parse_address, parse_cid, parse_round
from node.explorer.views import phase_of
from tests.unit.explorer.dom import parse

ROW = {"status": "open", "closed_at": 0, "commit_deadline": 100, "vote_deadline": 200}


@pytest.mark.parametrize(
    ("row", "now", "expected"),
    [
        (None, 0, ("idle", 0)),
        (ROW, 50, ("committing", 100)),
        ({**ROW, "closed_at": 60}, 70, ("voting", 200)),
        (ROW, 150, ("voting", 200)),
        (ROW, 250, ("open", 0)),  # expired: the next advance() fails it
        ({**ROW, "status": "finalized"}, 50, ("finalized", 0)),
        ({**ROW, "status": "failed"}, 250, ("failed", 0)),
    ],
)
def test_phase_and_deadline(
    row: dict[str, int] | None, now: int, expected: tuple[str, int]
) -> None:
    assert phase_of(row, now) == expected


def test_chart_has_one_point_per_round_in_the_box() -> None:
    svg = parse(accuracy_svg([{"round": 1, "accuracy": 0.1}, {"round": 5, "accuracy": 0.95}]))
    points = svg.by_id("accuracy-chart").all("circle", cls="point")
    assert [p.attrs["data-round"] for p in points] == ["1", "5"]
    assert [p.attrs["data-accuracy"] for p in points] == ["0.1000", "0.9500"]
    ys = [float(p.attrs["cy"]) for p in points]
    assert ys[0] > ys[1]  # higher accuracy is drawn higher
    xs = [float(p.attrs["cx"]) for p in points]
    assert 0 < xs[0] < xs[1] < 640


def test_empty_chart_says_why() -> None:
    svg = parse(accuracy_svg([]))
    assert svg.by_id("accuracy-chart").all("circle") == []
    assert "no accuracy reported" in svg.text


def test_input_checks() -> None:
    assert parse_round("12") == 12
    assert parse_address("0x" + "Ab" * 20) == "0x" + "ab" * 20
    cid = "bafkreiftkn6t4jtjeqk4atwzdlrppkkaem5aqxujgrohm2gghmvboqqvem"
    assert parse_cid(cid) == cid
    for bad in ("0", "-1", "1.5", "", "1e3", "٣"):
        with pytest.raises(BadInput):
            parse_round(bad)
    for bad in ("0x12", "70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x" + "zz" * 20):
        with pytest.raises(BadInput):
            parse_address(bad)
    for bad in ("Qm123", cid[:-1], cid.upper(), "../etc/passwd"):
        with pytest.raises(BadInput):
            parse_cid(bad)


def test_status_endpoint_urls() -> None:
    assert status_endpoint("127.0.0.1:9101") == "http://127.0.0.1:9101/status"
    assert status_endpoint("http://h:1/") == "http://h:1/status"
    assert status_endpoint("http://h:1/status") == "http://h:1/status"
