"""`fedchain explorer` on a real anvil with the real coordinator driven by bench/_rounds.py,
a node status endpoint serving records in the node's format, and the chain going down:
the pages show what the chain and the node recorded, then the last data with a banner."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from node.chain.merkle import build_reward_tree
from tests.integration.ports import free_port
from tests.unit.explorer.dom import Node, parse

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _rounds  # noqa: E402
import explorer as bench  # noqa: E402

pytestmark = pytest.mark.integration
FEDCHAIN = str(Path(sys.executable).with_name("fedchain"))
ROUNDS = 5
# each round's votes' metrics (bps): the two winning voters, then the losing one, which the
# agreed metric leaves out. Agreed: 60, 71, 70, 71 (no better than 71), 50 %: the third
# round in a row without improvement finishes the deployment (patience 3) with round 5.
METRICS = {1: (6000, 6000), 2: (7000, 7200), 3: (6900, 7100), 4: (7100, 7100), 5: (5000, 5000)}
LOSER_METRIC = 9999
STOP_RULE = {"target_metric_bps": 9500, "patience": 3, "max_rounds": 10}


def metric(r: int, voter: int) -> int:
    return METRICS[r][voter] if voter < 2 else LOSER_METRIC


class FakeNodeStatus:
    """A node's /status as the daemon serves it: its address and round records (the
    split and verdicts a node that computed the finalized model records)."""

    def __init__(self, address: str, records: list[dict[str, Any]]) -> None:
        body = json.dumps(
            {"address": address, "peer_id": "12D3KooWfake", "phase": "idle", "records": records}
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Env:
    driver: _rounds.Driver
    base: str
    split: dict[str, int]


def records(driver: _rounds.Driver) -> list[dict[str, Any]]:
    a, b, c = driver.addresses
    pool = driver.deployment.contributor_pool_per_round
    out = []
    for r in range(1, ROUNDS + 1):
        split = {x: pool // 3 for x in (a, b, c)}
        assert build_reward_tree(r, split).root == driver.trees[r].root
        out.append(
            {
                "round": r,
                "status": "finalized",
                "verified_authors": [a, b, c],
                "rejected": {},
                "scores": {x: 1 for x in split},
                "rewards": split,
                "model_cid": _rounds.fake_cid(f"model-{r}"),
                "finalized_cid": _rounds.fake_cid(f"model-{r}"),
                "accuracy": 0.5 + r / 20,
            }
        )
    return out


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("explorer")
    driver = _rounds.start(data, free_port(), **STOP_RULE)
    try:
        driver.drive(ROUNDS, metric)
        node = FakeNodeStatus(driver.addresses[1], records(driver))
        port = free_port()
        proc = subprocess.Popen(
            [
                FEDCHAIN,
                "explorer",
                "--deployment",
                str(driver.deployment_file),
                "--port",
                str(port),
                "--node",
                node.url,
                "--data-dir",
                str(data / "x"),
            ],
        )
        try:
            base = f"http://127.0.0.1:{port}"
            bench.wait_synced(base, ROUNDS, timeout=120)
            pool = driver.deployment.contributor_pool_per_round
            yield Env(driver, base, {a: pool // 3 for a in driver.addresses})
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            node.server.shutdown()
    finally:
        driver.stop()


def wei(node: Node, cls: str) -> int:
    return int(node.one("td", cls=cls).attrs["data-wei"])


def test_overview_shows_rounds_rewards_and_accuracy(env: Env) -> None:
    # the node's records arrive with the sync after the chain's: wait for the last point
    for _ in range(50):
        status, html = get(env.base + "/")
        page = parse(html)
        if len(page.by_id("accuracy-chart").all("circle", cls="point")) == ROUNDS:
            break
        time.sleep(0.2)
    assert status == 200
    assert page.by_id("current-round").text == str(ROUNDS)
    assert page.by_id("phase").text == "finalized"
    points = page.by_id("accuracy-chart").all("circle", cls="point")
    assert [p.attrs["data-accuracy"] for p in points] == [
        f"{0.5 + r / 20:.4f}" for r in range(1, 6)
    ]
    a, b, c = (x.lower() for x in env.driver.addresses)
    rows = {
        tr.attrs["data-address"]: tr for tr in page.by_id("rewards").all("tr", attr="data-address")
    }
    deployment = env.driver.deployment
    voter_pool = deployment.params.reward_per_round - deployment.contributor_pool_per_round
    contrib = deployment.contributor_pool_per_round // 3
    assert wei(rows[a], "earned") == ROUNDS * (contrib + voter_pool // 2)
    assert wei(rows[c], "earned") == ROUNDS * contrib  # voted the losing outcome
    assert wei(rows[a], "claimed") == contrib  # round 5's contributor claim
    assert wei(rows[b], "claimed") == voter_pool // 2  # round 4's voter claim
    pool = int(page.by_id("pool-total").attrs["data-wei"])
    paid = sum(wei(tr, "earned") for tr in rows.values())
    assert pool == ROUNDS * deployment.params.reward_per_round
    assert 0 <= pool - paid <= 3 * ROUNDS  # what the floor of each split leaves
    assert len(page.by_id("participants").all("tr", attr="data-address")) == 3
    assert "chain unreachable" not in page.by_id("chain-status").text


def test_round_page_reads_votes_and_verdicts(env: Env) -> None:
    status, html = get(f"{env.base}/rounds/{ROUNDS}")
    assert status == 200
    page = parse(html)
    a, b, c = env.driver.addresses
    assert page.by_id("round-status").text == "Finalized"
    events = [li.attrs["data-event"] for li in page.by_id("timeline").all("li")]
    assert events.count("commit") == 3 and events.count("vote") == 3
    assert {"opened", "commit-closed", "finalized", "claim"} <= set(events)
    authors = page.by_id("authors").all("tr", attr="data-author")
    assert {tr.attrs["data-author"]: tr.one("td", cls="cid").text for tr in authors} == {
        x.lower(): _rounds.fake_cid(f"update-{ROUNDS}-{x}") for x in (a, b, c)
    }
    assert all(tr.one("td", cls="verdicts").text.endswith("verified") for tr in authors)
    outcomes = page.by_id("outcomes").all("tr", attr="data-outcome")
    assert [wei(o, "stake") for o in outcomes] == [2 * _rounds.STAKE, _rounds.STAKE]
    assert "winning" in outcomes[0].attrs["class"]
    assert a[:10] in outcomes[1].text  # the losing vote's slash list named a
    person = json.loads(get(f"{env.base}/api/participants/{a}")[1])
    assert int(person["claimed"]) == env.split[a]
    assert get(f"{env.base}/rounds/{ROUNDS + 1}")[0] == 404


def test_agreed_metric_and_stop_rule_match_the_chain(env: Env) -> None:
    from rich.console import Console

    from node.chain.client import StopReason
    from node.operator.round_show import print_round
    from node.operator.stopstate import read_word, replay, stop_rule_view

    chain = env.driver.nodes[0]
    agreed = {r: chain.agreed_metric(r) for r in range(1, ROUNDS + 1)}
    assert agreed == {r: sum(METRICS[r]) // 2 for r in agreed}  # equal stakes: the mean
    end = chain.deployment_end()
    assert end is not None and chain.finished()
    assert (end.round, end.reason, end.metric_bps) == (ROUNDS, StopReason.NO_IMPROVEMENT, 5000)
    # the contract's own bookkeeping word, and the replay of the agreed metrics, agree
    word = read_word(chain)
    assert word is not None and word.finished_round == ROUNDS
    assert replay(agreed.values()) == dataclasses.replace(word, finished_round=0)
    assert (word.finalized, word.best_bps, word.since_best) == (ROUNDS, 7100, 3)
    expected = stop_rule_view(vars(chain.params()), word, end)
    assert expected["final_model_cid"] == chain.final_model_cid()

    overview = json.loads(get(env.base + "/api/overview")[1])
    assert overview["stop_rule"] == expected
    assert {p["round"]: p["bps"] for p in overview["agreed"]} == agreed
    page = parse(get(env.base + "/")[1])
    assert page.by_id("stop-state").attrs["data-finished"] == "true"
    assert "no improvement" in page.by_id("stop-state").text
    assert page.by_id("final-model-cid").text == end.model_cid
    assert page.by_id("stop-best").attrs["data-bps"] == "7100"
    assert page.by_id("stop-without-improvement").text == "3"
    points = page.by_id("accuracy-chart").all("circle", cls="agreed")
    assert {int(c.attrs["data-round"]): int(c.attrs["data-bps"]) for c in points} == agreed
    recent = page.by_id("recent-rounds").all("tr", attr="data-round")
    assert {
        int(tr.attrs["data-round"]): int(tr.one("td", cls="metric").attrs["data-bps"])
        for tr in recent
    } == agreed

    round_page = parse(get(f"{env.base}/rounds/{ROUNDS}")[1])
    assert round_page.by_id("agreed-metric").attrs["data-bps"] == str(agreed[ROUNDS])
    voted = {
        span.attrs["data-voter"]: int(span.attrs["data-bps"])
        for span in round_page.by_id("outcomes").all("span", cls="metric")
    }
    a, b, c = (x.lower() for x in env.driver.addresses)
    assert voted == {a: 5000, b: 5000, c: LOSER_METRIC}
    events = [li.attrs["data-event"] for li in round_page.by_id("timeline").all("li")]
    assert "finished" in events

    # `fedchain round show`: the same numbers, read from the chain (the bookkeeping word)
    cli_env = {**os.environ, "FEDCHAIN_CACHE_DIR": str(env.driver.data_dir)}
    show = subprocess.run(
        [FEDCHAIN, "round", "show", str(ROUNDS), "--json", "--deployment",
         str(env.driver.deployment_file)],
        capture_output=True, text=True, timeout=120, check=True, env=cli_env,
    )  # fmt: skip
    detail = json.loads(show.stdout)
    assert detail["agreed_metric_bps"] == agreed[ROUNDS]
    assert detail["stop_rule"] == expected
    assert {v["voter"].lower(): v["metric_bps"] for v in detail["votes"]} == voted
    console = Console(record=True, width=250)
    print_round(detail, console, as_json=False)
    text = console.export_text()
    assert "agreed metric    50.00%" in text
    assert "best 71.00%, 3 without improvement; finished at round 5 (no improvement" in text


def test_bench_measures_pages_against_static(env: Env) -> None:
    result = bench.measure(env.base, ROUNDS, requests=2)
    assert set(result) == {"static", "overview", "round", "participant"}
    assert result["overview"]["bytes"] > result["static"]["bytes"] > 0
    assert result["round"]["x_static"] > 0


def test_chain_down_shows_the_last_data_with_a_banner(env: Env) -> None:
    env.driver.stop()
    for _ in range(100):
        health = json.loads(get(env.base + "/healthz")[1])
        if not health["chain_ok"]:
            break
        time.sleep(0.2)
    assert health["chain_ok"] is False
    for path in ("/", f"/rounds/{ROUNDS}", f"/participants/{env.driver.addresses[0]}"):
        status, html = get(env.base + path)
        assert status == 200, path
        assert "chain unreachable" in parse(html).by_id("chain-status").text
