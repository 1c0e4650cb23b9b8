"""The explorer's pages against a hand-built index (index_fixture.py): the DOM contract
of docs/explorer.md, the JSON twins and the status codes of bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from node.explorer import db as xdb
from node.explorer.app import Settings, create_app
from tests.unit.explorer import index_fixture as fx
from tests.unit.explorer.dom import parse


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("explorer") / "index.sqlite"
    fx.build(path)
    app = create_app(Settings(path, "deployment.json", "http://127.0.0.1:9"))
    with TestClient(app) as c:
        yield c


def test_overview_follows_the_dom_contract(client: TestClient) -> None:
    page = parse(client.get("/").text)
    assert page.by_id("current-round").text == "3"
    assert page.by_id("phase").text == "committing"
    assert page.by_id("deadline").attrs["data-unix"] == str(fx.T0 + 560)
    assert "digits-mlp" in page.by_id("deployment").text
    stakes = {
        tr.attrs["data-address"]: int(tr.one("td", cls="stake").attrs["data-wei"])
        for tr in page.by_id("participants").all("tr", attr="data-address")
    }
    assert stakes == {
        fx.A.lower(): fx.STAKE,
        fx.B.lower(): fx.STAKE,
        fx.C.lower(): fx.STAKE - fx.SLASHED,
    }
    points = page.by_id("accuracy-chart").all("circle", cls="point")
    assert [(p.attrs["data-round"], p.attrs["data-accuracy"]) for p in points] == [
        ("1", "0.8123"),
        ("2", "0.9000"),
    ]
    rewards = {
        tr.attrs["data-address"]: (
            int(tr.one("td", cls="earned").attrs["data-wei"]),
            int(tr.one("td", cls="claimed").attrs["data-wei"]),
        )
        for tr in page.by_id("rewards").all("tr", attr="data-address")
    }
    voter = fx.VPOOL // 3
    assert rewards[fx.A.lower()] == (fx.CPOOL // 3 + fx.CPOOL // 2 + 2 * voter, fx.CPOOL // 3)
    assert rewards[fx.C.lower()] == (fx.CPOOL // 3 + 2 * voter, 0)
    pool = int(page.by_id("pool-total").attrs["data-wei"])
    assert pool == 2 * (fx.CPOOL + fx.VPOOL)
    paid = sum(e for e, _ in rewards.values())
    assert 0 <= pool - paid <= 10  # floor-division dust of the splits
    assert int(page.by_id("slashed-total").attrs["data-wei"]) == fx.SLASHED
    assert "chain unreachable" not in page.by_id("chain-status").text
    # rewards and slashes over time: one pool bar and one slash bar per settled round
    economy = page.by_id("economy-chart")
    pools = {
        r.attrs["data-round"]: int(r.attrs["data-wei"]) for r in economy.all("rect", cls="pool")
    }
    cuts = {
        r.attrs["data-round"]: int(r.attrs["data-wei"]) for r in economy.all("rect", cls="slashed")
    }
    assert pools == {"1": fx.CPOOL + fx.VPOOL, "2": fx.CPOOL + fx.VPOOL}
    assert cuts.keys() == pools.keys() and sum(cuts.values()) == fx.SLASHED


def test_round_page_shows_verdicts_rewards_slash_and_outcomes(client: TestClient) -> None:
    page = parse(client.get("/rounds/2").text)
    assert page.by_id("round-status").text == "Finalized"
    kinds = [li.attrs["data-event"] for li in page.by_id("timeline").all("li")]
    assert kinds[:2] == ["opened", "commit"] and "commit-closed" in kinds
    assert kinds.count("vote") == 3 and "finalized" in kinds and "slash" in kinds
    authors = {
        tr.attrs["data-author"]: tr for tr in page.by_id("authors").all("tr", attr="data-author")
    }
    booster = authors[fx.C.lower()]
    assert "rejected: norm 912.4" in booster.one("td", cls="verdicts").text
    assert int(booster.one("td", cls="slash").attrs["data-wei"]) == fx.SLASHED
    assert int(booster.one("td", cls="reward").attrs["data-wei"]) == 0
    honest = authors[fx.A.lower()]
    assert honest.one("td", cls="verdicts").text.endswith("verified")
    assert honest.one("td", cls="score").text == "1000"
    assert int(honest.one("td", cls="reward").attrs["data-wei"]) == fx.CPOOL // 2
    assert fx.CID in honest.one("td", cls="cid").text
    (outcome,) = page.by_id("outcomes").all("tr", attr="data-outcome")
    assert int(outcome.one("td", cls="stake").attrs["data-wei"]) == 3 * fx.STAKE
    assert page.by_id("model-download").attrs["href"].startswith("/rounds/2/model")
    assert page.by_id("agreed-metric").attrs["data-bps"] == "9000"
    (spend,) = page.by_id("privacy").all("tr", attr="data-node")
    assert spend.attrs["data-node"] == fx.A.lower()
    assert spend.one("td", cls="epsilon").attrs["data-epsilon"] == "1.25"
    assert spend.one("td", cls="epsilon-update").text == "2.500"
    with pytest.raises(LookupError):  # no node reported DP for round 1
        parse(client.get("/rounds/1").text).by_id("privacy")
    overview = client.get("/api/overview").json()
    assert overview["agreed"] == [{"round": 1, "bps": 8100}, {"round": 2, "bps": 9000}]
    assert overview["stop_rule"]["best_metric_bps"] == 9000
    assert overview["stop_rule"]["rounds_without_improvement"] == 0


def test_open_round_and_participant_page(client: TestClient) -> None:
    assert parse(client.get("/rounds/3").text).by_id("round-status").text == "Open"
    page = parse(client.get(f"/participants/{fx.C.lower()}").text)
    (slash,) = page.by_id("slashes").all("tr", attr="data-round")
    assert slash.attrs["data-round"] == "2"
    assert "norm 912.4" in slash.one("td", cls="reason").text
    assert int(slash.one("td", cls="amount").attrs["data-wei"]) == fx.SLASHED
    earned = int(page.by_id("earned").attrs["data-wei"])
    assert earned == int(page.by_id("unclaimed").attrs["data-wei"]) > 0
    assert "fedchain claim" in page.by_id("claim-command").text
    assert page.by_id("peer-id").text == "12D3Koo2"
    assert [tr.attrs["data-round"] for tr in page.by_id("rounds").all("tr", attr="data-round")] == [
        "1",
        "2",
        "3",
    ]
    assert len(page.by_id("stake-history").all("li")) == 2  # registered, slashed


def test_json_twins_match_the_pages(client: TestClient) -> None:
    overview = client.get("/api/overview").json()
    assert overview["current_round"] == 3 and overview["phase"] == "committing"
    assert [p["round"] for p in overview["accuracy"]] == [1, 2]
    assert 'class="point"' in overview["accuracy_svg"]
    assert client.get("/api/rounds/2").json()["status"] == "finalized"
    person = client.get(f"/api/participants/{fx.A}").json()  # mixed case accepted
    assert person["claimed"] == str(fx.CPOOL // 3)
    assert client.get("/healthz").json()["ok"] is True


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/rounds/99", 404),
        ("/rounds/0", 400),
        ("/rounds/abc", 400),
        ("/rounds/99999999999999999999999", 400),
        ("/api/rounds/-1", 400),
        ("/participants/0x1234", 400),
        ("/participants/0x" + "00" * 20, 404),
        ("/blobs/not-a-cid", 400),
        ("/rounds/3/model", 404),  # open: no model yet
        ("/rounds/2/model?format=zip", 400),
        ("/no/such/page", 404),
    ],
)
def test_bad_input_gets_a_clear_page(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    if path.startswith("/api/"):
        assert response.json()["error"]
    else:
        page = parse(response.text)
        assert page.by_id("error-status").text == str(status)
        assert page.by_id("error-message").text


def test_chain_down_keeps_the_pages_with_a_banner(client: TestClient) -> None:
    state = client.app.state.explorer  # type: ignore[attr-defined]
    state.chain_ok = False
    try:
        response = client.get("/rounds/1")
        assert response.status_code == 200
        assert "chain unreachable" in parse(response.text).by_id("chain-status").text
        assert client.get("/api/overview").json()["chain"]["ok"] is False
    finally:
        state.chain_ok = True


def test_nothing_indexed_answers_503(tmp_path: Path) -> None:
    app = create_app(Settings(tmp_path / "empty.sqlite", "d.json", "http://127.0.0.1:9"))
    with TestClient(app) as c:
        app.state.explorer.chain_ok = False
        page = c.get("/")
        assert page.status_code == 503
        assert "chain unreachable" in parse(page.text).by_id("error-message").text
        assert c.get("/rounds/1").status_code == 503
        assert c.get("/api/overview").status_code == 503


def test_pages_are_computed_once_per_index_version(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    fx.build(path)
    app = create_app(Settings(path, "d.json", "http://127.0.0.1:9"))
    with TestClient(app) as c:
        assert c.get("/api/overview").json()["current_round"] == 3
        db = xdb.connect(path)
        xdb.set_meta(db, {"current_round": 4})
        assert c.get("/api/overview").json()["current_round"] == 3  # same version: cached
        xdb.set_meta(db, {"version": 2})  # what a sync step that changed anything does
        assert c.get("/api/overview").json()["current_round"] == 4
        db.close()
