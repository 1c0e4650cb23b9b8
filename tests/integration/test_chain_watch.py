"""ChainWatch on a real anvil: woken by a mined block, a timeout returns, a restarted anvil
is followed again, and an endpoint without WebSocket is polled over HTTP."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from node.chain import devnet
from node.chain.watch import ChainWatch, websocket_url
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
HANG_S = 30  # only a broken watch takes this long: every wait here should end in ~1 s


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[devnet.Devnet]:
    net = devnet.up(tmp_path / "devnet", port=free_port())  # blocks only when mined here
    try:
        yield net
    finally:
        devnet.down(net.data_dir)


def test_the_websocket_url_is_the_rpc_url_with_a_ws_scheme() -> None:
    assert websocket_url("http://127.0.0.1:8545") == "ws://127.0.0.1:8545"
    assert websocket_url("https://rpc.example/v1/key") == "wss://rpc.example/v1/key"
    assert websocket_url("wss://rpc.example/ws") == "wss://rpc.example/ws"
    assert ChainWatch("http://h:1", ws_url="wss://h/ws").ws_url == "wss://h/ws"


async def mine(rpc_url: str) -> dict[str, str]:
    """Mine one block; returns it as the node reports it."""
    await trio.to_thread.run_sync(devnet.rpc_call, rpc_url, "evm_mine")
    block: dict[str, str] = await trio.to_thread.run_sync(
        devnet.rpc_call, rpc_url, "eth_getBlockByNumber", ["latest", False]
    )
    return block


async def mine_later(rpc_url: str, delay: float) -> None:
    await trio.sleep(delay)
    await mine(rpc_url)


def test_wakes_on_a_mined_block_and_times_out_without_one(anvil: devnet.Devnet) -> None:
    async def main() -> None:
        watch = ChainWatch(anvil.rpc_url, idle_ping=0.2)  # pings while nothing is mined
        async with trio.open_nursery() as nursery:
            await nursery.start(watch.run)
            assert watch.mode == "websocket"
            first = await mine(anvil.rpc_url)
            with trio.fail_after(HANG_S):
                assert await watch.wait(0, 600) == 1
            assert watch.head_time == int(first["timestamp"], 16)

            assert await watch.wait(1, 0.5) == 1  # nothing mined: the timeout returns
            assert await watch.wait(1, -1) == 1  # a timeout already past returns at once

            nursery.start_soon(mine_later, anvil.rpc_url, 0.3)
            with trio.fail_after(HANG_S):
                assert await watch.wait(1, 600) == 2
            assert (watch.mode, watch.connects) == ("websocket", 1)  # pings kept it open
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_follows_anvil_again_after_a_restart(anvil: devnet.Devnet) -> None:
    async def main() -> None:
        watch = ChainWatch(anvil.rpc_url, max_backoff=0.5)
        async with trio.open_nursery() as nursery:
            await nursery.start(watch.run)
            await mine(anvil.rpc_url)
            with trio.fail_after(HANG_S):
                await watch.wait(0, 600)
            await trio.to_thread.run_sync(devnet.down, anvil.data_dir)  # dumps its state
            with trio.fail_after(HANG_S):
                while watch.mode != "down":
                    await trio.sleep(0.05)
            await trio.to_thread.run_sync(
                lambda: devnet.up(anvil.data_dir, port=anvil.port)  # from the dump: block 1
            )
            nursery.start_soon(mine_later, anvil.rpc_url, 0.5)
            with trio.fail_after(HANG_S):
                assert await watch.wait(1, 600) == 2
            assert (watch.mode, watch.connects) == ("websocket", 2)
            nursery.cancel_scope.cancel()

    trio.run(main)


TOPIC = "0x" + "ab" * 32


async def emit_log(rpc_url: str) -> None:
    """Mine a transaction that logs ``TOPIC`` (a contract creation whose constructor runs
    PUSH32 TOPIC, PUSH1 0, PUSH1 0, LOG1, STOP)."""
    code = "0x7f" + TOPIC[2:] + "60006000a100"
    (sender, *_) = await trio.to_thread.run_sync(devnet.rpc_call, rpc_url, "eth_accounts")
    tx = {"from": sender, "data": code, "gas": hex(100_000)}
    await trio.to_thread.run_sync(devnet.rpc_call, rpc_url, "eth_sendTransaction", [tx])


def test_counts_subscribed_logs_and_only_those(anvil: devnet.Devnet) -> None:
    """A logs filter: each matching log wakes ``wait_event`` (and is not taken for a new
    head); a block without one does not; a new session counts as one (it may have missed
    some)."""

    async def main() -> None:
        watch = ChainWatch(anvil.rpc_url, logs={"topics": [[TOPIC]]})
        async with trio.open_nursery() as nursery:
            await nursery.start(watch.run)
            with trio.fail_after(HANG_S):
                assert await watch.wait_event(0, 600) == 1  # the session
            await mine(anvil.rpc_url)
            with trio.fail_after(HANG_S):
                await watch.wait(0, 600)
            assert await watch.wait_event(1, 0.5) == 1  # a block without the log
            nursery.start_soon(emit_log, anvil.rpc_url)
            with trio.fail_after(HANG_S):
                assert await watch.wait_event(1, 600) == 2
                assert await watch.wait(1, 600) == 2  # the log's block is still a head
            assert (watch.mode, watch.connects) == ("websocket", 1)
            nursery.cancel_scope.cancel()

    trio.run(main)


@contextmanager
def http_only_proxy(rpc_url: str) -> Iterator[str]:
    """An HTTP JSON-RPC endpoint in front of ``rpc_url`` that refuses WebSocket upgrades
    (what an HTTP-only provider answers)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            forward = urllib.request.Request(
                rpc_url, data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(forward, timeout=5) as reply:
                data = reply.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self.send_error(405, "POST JSON-RPC only")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_polls_an_endpoint_without_websocket(anvil: devnet.Devnet) -> None:
    async def main(url: str) -> None:
        watch = ChainWatch(url, poll_interval=0.1)
        async with trio.open_nursery() as nursery:
            await nursery.start(watch.run)
            assert (watch.mode, watch.connects) == ("polling", 0)
            nursery.start_soon(mine_later, anvil.rpc_url, 0.3)
            with trio.fail_after(HANG_S):
                assert await watch.wait(0, 600) == 1
            nursery.cancel_scope.cancel()

    with http_only_proxy(anvil.rpc_url) as url:
        trio.run(main, url)


def test_a_settle_wait_ignores_other_round_logs() -> None:
    """``wait_settle`` returns on a log of the filter's topics (a settle log), not on the
    coordinator's other round logs (a vote), which ``wait_round`` does return on."""
    from node.chain.watch import SETTLE_EVENTS, coordinator_topics

    settle = coordinator_topics(SETTLE_EVENTS)
    vote = coordinator_topics(("OutcomeSubmitted",))
    assert settle and vote
    watch = ChainWatch("http://127.0.0.1:1", logs={"address": "0xC0", "topics": [settle]})
    watch._on_message({"id": 3, "result": "0x1"})  # the log subscription is acknowledged

    def log(topic: str) -> dict[str, object]:
        entry = {"topics": [topic], "address": "0xC0"}
        return {"method": "eth_subscription", "params": {"result": entry}}

    async def main() -> list[str]:
        woke: list[str] = []
        async with trio.open_nursery() as nursery:

            async def wait(kind: str) -> None:
                if kind == "settle":
                    await watch.wait_settle(watch.events, 10**9, HANG_S)
                else:
                    await watch.wait_round(watch.round_marks, 10**9, HANG_S)
                woke.append(f"{kind}@{trio.current_time():g}")

            nursery.start_soon(wait, "settle")
            nursery.start_soon(wait, "round")
            await trio.sleep(1)
            watch._on_message(log(vote[0]))
            await trio.sleep(1)
            watch._on_message(log(settle[0]))
        return woke

    woke = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert woke == ["round@1", "settle@2"]


def test_counts_parameter_and_stop_logs_and_every_new_subscription() -> None:
    """``param_marks`` / ``stop_marks`` move on a ParamsApplied / DeploymentFinished log and
    on every change of the log subscription (a new one may have missed some), on nothing
    else: what lets the round loop keep the parameters and the stop rule's verdict."""
    from node.chain.watch import SETTLE_EVENTS, coordinator_topics

    (params,) = coordinator_topics(("ParamsApplied",))
    (stop,) = coordinator_topics(("DeploymentFinished",))
    (vote,) = coordinator_topics(("OutcomeSubmitted",))
    settle = coordinator_topics(SETTLE_EVENTS)
    watch = ChainWatch("http://127.0.0.1:1", logs={"address": "0xC0", "topics": [settle]})

    def log(topic: str) -> dict[str, object]:
        entry = {"topics": [topic], "address": "0xC0"}
        return {"method": "eth_subscription", "params": {"result": entry}}

    def marks() -> tuple[int, int]:
        return watch.param_marks, watch.stop_marks

    watch._on_message({"id": 3, "result": "0x1"})  # the log subscription is acknowledged
    assert watch.round_logs_live and marks() == (1, 1)
    for topic in (vote, *settle):
        watch._on_message(log(topic))
    assert marks() == (1, 1)
    watch._on_message(log(params))
    assert marks() == (2, 1)
    watch._on_message(log(stop))
    assert marks() == (2, 2)
    watch._round_logs(live=False)  # the session was lost
    assert marks() == (3, 3)


def test_heads_on_demand_judges_deadlines_by_the_chain_clock(anvil: devnet.Devnet) -> None:
    """With a coordinator's log filter the watch does not subscribe to ``newHeads`` (a
    mined block without a log moves nothing), and a round wait's deadline is a timer on the
    chain's clock: it returns about when chain time reaches ``until``, no block needed."""
    from node.chain.watch import settle_events

    async def main() -> None:
        watch = ChainWatch(anvil.rpc_url, logs=settle_events("0x" + "11" * 20))
        async with trio.open_nursery() as nursery:
            await nursery.start(watch.run)
            assert (watch.mode, watch.round_logs_live, watch.heads_live) == (
                "websocket",
                True,
                False,
            )
            head = watch.head
            await mine(anvil.rpc_url)
            assert await watch.wait(head, 0.5) == head  # no newHeads: nothing woke it
            now = watch.chain_time()
            assert now is not None
            with trio.fail_after(HANG_S):  # no block is mined: only the clock ends it
                await watch.wait_round(watch.round_marks, int(now) + 2, 600)
            assert (watch.chain_time() or 0) >= int(now) + 2 - 0.01
            nursery.cancel_scope.cancel()

    trio.run(main)
