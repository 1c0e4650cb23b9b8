"""A node killed with kill -9 and restarted mid-run, and a node that joins later, must not
make anyone penalise or blacklist an honest peer.

Real anvil, real node processes: A, B, C start together; D registers once round 1 is
over (its peer id is new to everyone's registry copy); B is SIGKILLed right after it
committed in round 2 and restarted from its data directory (it does not know the current
round for a moment, and re-announces). Every honest node's status document is polled
throughout: no honest peer may ever score below zero or be blacklisted, every round
finalizes with the same model on every node that recorded it, and nobody commits or
votes twice in a round.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from node.chain.deploy import fund_accounts
from node.demo.processes import NodeProcess, start_node
from node.demo.run import DemoOptions, node_config_text
from node.operator.devnet import deployment_path
from tests.integration.chain_faults import TOKEN, Network, network, records, sends_per_author

pytestmark = pytest.mark.integration
# D starts once round 1 finalized and becomes active a round or two after it registers;
# rounds of 1-3 s (pushed updates) left it active only from round 5.
ROUNDS = 7
KILLED = 1
BLACKLISTED = re.compile(r"gossip: (\S+) scored \S+; ignoring it from now on")


class Scores:
    """The lowest score each node ever gave each peer, from the status documents."""

    def __init__(self) -> None:
        self.lowest: dict[tuple[str, str], float] = {}

    def poll(self, nodes: list[NodeProcess]) -> None:
        for node in nodes:
            status = node.status()
            for peer, score in status.get("peer_scores", {}).items():
                key = (str(status.get("peer_id")), peer)
                self.lowest[key] = min(self.lowest.get(key, 0.0), float(score))


def late_node(net: Network, root: Path, index: int) -> tuple[str, Path]:
    """Config and funded account for a node started later (max_rounds 0: until stopped)."""
    address, key = net.net.accounts[index + 1]
    fund_accounts(net.net.rpc_url, net.deployment, net.net.accounts[0][1], [address], 1000 * TOKEN)
    opts = DemoOptions(nodes=index + 1, rounds=0, task="digits-mlp", data_root=root, epochs=1)
    home = root / f"late{index}"
    home.mkdir(parents=True)
    (home / "key.hex").write_text(key + "\n")
    (home / "key.hex").chmod(0o600)
    config = home / "config.toml"
    config.write_text(node_config_text(index, opts, deployment_path(net.devnet_dir).resolve()))
    return address, config


def test_restarted_and_late_nodes_penalise_no_honest_peer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    scores = Scores()
    with network(tmp_path / "net", ROUNDS) as net:
        chain = net.chain()
        late_address, late_config = late_node(net, tmp_path, 3)

        def step(done, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + timeout
            while not done():
                scores.poll(net.nodes)
                for node in net.nodes:
                    assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.2)

        step(lambda: chain.finalized_outcome(1) is not None, "round 1 to finalize")
        net.nodes.append(start_node(3, late_address, late_config.parent, late_config))
        killed = net.nodes[KILLED]
        # mid-exchange: everyone committed, B announced its update and started fetching
        step(lambda: chain.round_info(2).closed_at > 0, "round 2's commit window to close")
        time.sleep(1.0)
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(timeout=10)
        net.nodes[KILLED] = start_node(KILLED, killed.address, killed.data_dir,
                                       killed.data_dir / "config.toml")  # fmt: skip

        def finished() -> bool:
            if chain.finalized_outcome(ROUNDS) is None:
                return False
            return all((records(n).get(ROUNDS) or {}).get("finalized_cid") for n in net.nodes)

        step(finished, f"round {ROUNDS} recorded by every node")
        time.sleep(2.0)  # a last look after the final announcements
        scores.poll(net.nodes)
        honest = {str(n.status()["peer_id"]) for n in net.nodes}
        statuses = [n.status() for n in net.nodes]
        logs = [n.log_path.read_text() for n in net.nodes]
        sends = sends_per_author(chain)
        outcomes = {r: chain.finalized_outcome(r) for r in range(1, ROUNDS + 1)}

    # nobody honest (here: everybody) was ever scored below zero or blacklisted
    below = {k: v for k, v in scores.lowest.items() if k[1] in honest and v < 0}
    rejected = [{k: v for k, v in s["p2p"].items() if k.startswith("gossip.rej")} for s in statuses]
    assert below == {}, (below, rejected)
    for status, log in zip(statuses, logs, strict=True):
        assert status["p2p"].get("gossip.graylisted", 0) == 0, status["p2p"]
        assert BLACKLISTED.findall(log) == [], status["peer_id"]
        assert all(v >= 0 for p, v in status["peer_scores"].items() if p in honest)
    # B came back and finished round 2 (in which it was killed) from its journal
    assert records(net.nodes[KILLED]).get(2, {}).get("finalized_cid"), "B lost round 2"
    # every round finalized, everyone that recorded it agrees with the chain
    for r, outcome in outcomes.items():
        assert outcome is not None, f"round {r} did not finalize"
        for node in net.nodes:
            mine = records(node).get(r)
            if mine is not None and mine.get("finalized_cid"):
                assert mine["finalized_cid"] == outcome.model_cid, (node.index, r, mine)
    # nothing sent twice; A, B and C committed and voted in every round, D by the last
    for r in range(1, ROUNDS + 1):
        for node in net.nodes:
            assert sends[("Committed", r, node.address)] <= 1, (node.index, r, sends)
            assert sends[("OutcomeSubmitted", r, node.address)] <= 1, (node.index, r, sends)
            if node.index < 3:
                assert sends[("Committed", r, node.address)] == 1, (node.index, r, sends)
    assert sends[("Committed", ROUNDS, late_address)] == 1, sends
    restarted_log = logs[KILLED]
    assert "AlreadyCommitted" not in restarted_log and "AlreadyVoted" not in restarted_log
