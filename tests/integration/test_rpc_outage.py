"""A 5 s RPC outage mid-round: real anvil behind a TCP proxy that cuts every connection,
three real node processes. No node exits, every round finalizes with the same model on
every node, and nothing is committed or voted twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import pytest

from node.chain.client import ChainClient
from tests.integration.chain_faults import (
    RpcProxy,
    assert_agreement_and_single_sends,
    network,
    wait_for,
    wait_rounds,
)

pytestmark = pytest.mark.integration
ROUNDS = 2
OUTAGE_S = 5.0


def outage_due(chain: ChainClient, r: int, started: Callable[[], bool]) -> bool:
    return chain.current_round() >= r and started()


def test_nodes_ride_out_rpc_outages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proxy: RpcProxy | None = None

    def through_proxy(anvil_port: int) -> str:
        nonlocal proxy
        proxy = proxy or RpcProxy(anvil_port)
        return proxy.url

    with network(tmp_path, ROUNDS, rpc_url=through_proxy) as net:
        assert proxy is not None
        chain = net.chain()
        # Round 1: down while the nodes commit; round 2: down while they vote.
        starts = {
            1: lambda: chain.round_info(1).commit_count >= 1,
            2: lambda: any(chain.has_voted(2, n.address) for n in net.nodes),
        }
        for r, started in starts.items():
            wait_for(net.nodes, partial(outage_due, chain, r, started), f"round {r}")
            proxy.pause()
            time.sleep(OUTAGE_S)
            phases = [n.status().get("phase", "") for n in net.nodes]
            proxy.resume()
            assert any("chain unreachable since" in p for p in phases), phases
        wait_rounds(net.nodes, ROUNDS)
        assert all(n.running() for n in net.nodes)
        assert_agreement_and_single_sends(net, ROUNDS)
        for node in net.nodes:
            metrics = node.status()["metrics"]
            assert metrics.get("chain_retries_total", 0) > 0, (node.index, metrics)
            assert metrics.get("chain_unreachable_seconds", 0) == 0, (node.index, metrics)
        proxy.close()
