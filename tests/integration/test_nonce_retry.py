"""Two senders with one key (as two processes would be: each has its own lock) never fail
each other's transactions: a nonce the other took is retried with the next free one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from node.chain import devnet
from node.chain.tx import Sender, connect
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
SENDS = 12


def test_two_senders_one_key_all_transactions_mined(tmp_path: Path) -> None:
    net = devnet.up(tmp_path / "devnet", port=free_port())
    try:
        address, key = net.accounts[1]
        target = net.accounts[2][0]
        w3 = connect(net.rpc_url)
        start = w3.eth.get_transaction_count(address)
        before = w3.eth.get_balance(target)
        senders = [Sender(connect(net.rpc_url), key) for _ in range(2)]
        failures: list[Exception] = []
        gate = threading.Barrier(len(senders))

        def send_all(sender: Sender, wei: int) -> None:
            gate.wait()
            for _ in range(SENDS):
                try:
                    sender.send_value("transfer", target, wei)
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    failures.append(exc)

        threads = [
            threading.Thread(target=send_all, args=(s, wei)) for wei, s in enumerate(senders, 1)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert failures == []
        assert w3.eth.get_transaction_count(address) == start + 2 * SENDS
        assert w3.eth.get_balance(target) == before + (1 + 2) * SENDS
    finally:
        devnet.down(tmp_path / "devnet")
