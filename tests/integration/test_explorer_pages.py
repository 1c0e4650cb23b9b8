"""`fedchain explorer` on a real anvil with the real coordinator driven by bench/_rounds.py,
a node status endpoint serving records in the node's format, and the chain going down:
the pages show what the chain and the node recorded, then the last data with a banner."""

from __future__ import annotations

import json
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
    driver = _rounds.start(data, free_port())
    try:
        driver.drive(ROUNDS)
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
