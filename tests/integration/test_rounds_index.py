"""`rounds`, `round show` and `balance` read a bounded number of RPC requests, whatever the
length of the history: real anvil, real contracts driven by bench/_rounds.py, the real CLI
in a subprocess, and a counting JSON-RPC proxy in between."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from node.chain.deploy import TOKEN
from node.chain.errors import PortInUse
from tests.integration.ports import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _rounds  # noqa: E402

pytestmark = pytest.mark.integration
FEDCHAIN = str(Path(sys.executable).with_name("fedchain"))


class CountingProxy:
    """Forwards JSON-RPC over HTTP to ``upstream``; counts requests (a batch counts each
    of its entries) by method."""

    def __init__(self, upstream: str) -> None:
        self.calls: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payload = json.loads(body)
                entries = payload if isinstance(payload, list) else [payload]
                proxy.calls += [e["method"] for e in entries]
                request = urllib.request.Request(
                    upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = response.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def counted(self, fn: Any) -> list[str]:
        self.calls = []
        fn()
        return list(self.calls)


@pytest.fixture(scope="module")
def driven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_rounds.Driver]:
    driver = _rounds.start(tmp_path_factory.mktemp("devnet"), free_port())
    try:
        yield driver
    finally:
        driver.stop()


def cli(driver: _rounds.Driver, proxy: CountingProxy, cache: Path, *args: str) -> str:
    env = {**os.environ, "FEDCHAIN_CACHE_DIR": str(cache), "COLUMNS": "200"}
    done = subprocess.run(
        [FEDCHAIN, *args, "--deployment", str(driver.deployment_file), "--rpc-url", proxy.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rounds_cost_does_not_grow_with_history(driven: _rounds.Driver, tmp_path: Path) -> None:
    proxy = CountingProxy(driven.net.rpc_url)
    me = driven.addresses[1]
    counts = {}
    for total in (5, 15):
        driven.drive(total - driven.rounds_done())
        cache = tmp_path / f"cache-{total}"

        def rounds_json(cache: Path = cache, total: int = total) -> None:
            rows = json.loads(cli(driven, proxy, cache, "rounds", "--last", "3", "--json"))
            assert [r["round"] for r in rows] == [total - 2, total - 1, total]
            assert all(r["status"] == "finalized" and r["votes"] == 3 for r in rows)

        cold = proxy.counted(rounds_json)  # a fresh index reads all events in one go
        warm = proxy.counted(rounds_json)  # settled rounds are cached: fewer still

        def balance(cache: Path = cache) -> None:
            got = json.loads(cli(driven, proxy, cache, "balance", "--address", me, "--json"))
            assert got["unclaimed_voter"] > 0

        balance()  # a cold index reads the views of its voted rounds once, in one batch
        counts[total] = (cold, warm, proxy.counted(balance))
    assert counts[5] == counts[15], counts
    cold, warm, _ = counts[15]
    assert cold.count("eth_getLogs") == 1 and warm.count("eth_getLogs") == 1
    assert "eth_call" not in warm  # every shown round is settled: its views are cached
    assert len(warm) < len(cold)


def test_round_show_reads_what_each_voter_rejected(driven: _rounds.Driver, tmp_path: Path) -> None:
    proxy = CountingProxy(driven.net.rpc_url)
    r = driven.rounds_done()
    detail = json.loads(cli(driven, proxy, tmp_path, "round", "show", str(r), "--json"))
    a, b, c = driven.addresses
    assert detail["status"] == "finalized"
    assert {x["author"]: x["cid"] for x in detail["commits"]} == {
        x: _rounds.fake_cid(f"update-{r}-{x}") for x in (a, b, c)
    }
    assert detail["model_cid"] == _rounds.fake_cid(f"model-{r}")
    assert {v["voter"]: (v["winning"], v["rejected"]) for v in detail["votes"]} == {
        a: (True, []),
        b: (True, []),
        c: (False, [a]),  # the losing vote asked to slash a
    }
    assert all(v["weight"] == _rounds.STAKE for v in detail["votes"])
    assert detail["slashes"] == []  # the slash list lost: nobody slashed
    voter_share = driven.deployment.params.reward_per_round * 2000 // 10_000 // 2
    assert detail["rewards"][a]["voter"] == detail["rewards"][b]["voter"] == voter_share
    assert c not in detail["rewards"]
    assert detail["times"]["settled"]["tx"] == detail["settled_tx"]
    out = cli(driven, proxy, tmp_path, "round", "show", str(r))
    assert f"round {r} · finalized" in out
    assert detail["settled_tx"] in out
    assert "ago)" in out


def test_rounds_show_rewards_claimed_per_address(driven: _rounds.Driver, tmp_path: Path) -> None:
    proxy = CountingProxy(driven.net.rpc_url)
    rows = json.loads(cli(driven, proxy, tmp_path, "rounds", "--last", "15", "--json"))
    by_round = {row["round"]: row for row in rows}
    a, b, _ = driven.addresses
    pool = driven.deployment.contributor_pool_per_round
    # Every fifth round the driver claims a's contributor reward and b's voter reward of
    # the round before.
    assert by_round[10]["rewards"][a]["contributor"] == pool // 3
    assert by_round[9]["rewards"][b]["voter_claimed"] is True
    assert by_round[8]["rewards"][b]["voter_claimed"] is False
    assert by_round[10]["claimed"] == pool // 3
    assert sum(by_round[9]["rewards"][x]["voter"] for x in (a, b)) == TOKEN * 2000 // 10_000


def _start_again(data_dir: Path, port: int) -> Any:
    """A devnet on the port another one just left. Another test's process may hold the
    port for a moment (the suite runs in two workers): retry for a while, then give up."""
    for _ in range(40):
        try:
            return _rounds.start(data_dir, port)
        except PortInUse:
            time.sleep(0.5)
    return _rounds.start(data_dir, port)


def test_index_of_an_older_devnet_on_the_same_url_is_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fresh anvil has the same chain id and coordinator address: an index left by a
    longer-lived devnet on the same port must not break reads of a new, shorter one."""
    from node.operator.index import RoundIndex

    monkeypatch.setenv("FEDCHAIN_CACHE_DIR", str(tmp_path / "cache"))
    port = free_port()
    first = _rounds.start(tmp_path / "first", port)
    try:
        first.drive(3)
        index = RoundIndex.for_chain(first.nodes[0])
        index.sync(first.nodes[0])
        assert index.current_round() == 3
        index.close()
    finally:
        first.stop()
    second = _start_again(tmp_path / "second", port)
    try:
        assert second.deployment.coordinator == first.deployment.coordinator
        second.drive(1)
        index = RoundIndex.for_chain(second.nodes[0])
        latest = index.sync(second.nodes[0])  # the old synced block is beyond this chain's head
        assert latest == second.nodes[0].block_number()
        assert index.current_round() == 1
        index.close()
    finally:
        second.stop()
