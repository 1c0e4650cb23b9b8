"""A node killed with kill -9 and restarted mid-run, and a node that joins later, must not
make anyone penalise or blacklist an honest peer.

Real anvil, real node processes: A, B, C start together; D registers once round 1 is
over (its peer id is new to everyone's registry copy); B is SIGKILLed mid-exchange in
round 2 (committed, its update out, the others' fetched and verified) and restarted from
its data directory (it does not know the current round for a moment, and re-announces).
The nodes run until stopped, up to the first round D committed in that every node
recorded (rounds take well under a second each: a fixed round count ended before D got
going). Every honest node's status document is polled throughout: no honest peer may
ever score below zero or be blacklisted, every round finalizes with the same model on
every node that recorded it, and nobody commits or votes twice in a round.
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
KILLED = 1
# B kills itself (SIGKILL) at this crash point (node/faults.py): a kill from outside after
# a sleep landed rounds later once rounds got fast, or after B had finished round 2
CRASH = {"FEDCHAIN_CRASH_AT": "exchanged:2"}
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
    with network(tmp_path / "net", 0, env={KILLED: CRASH}) as net:  # 0: until stopped
        chain = net.chain()
        late_address, late_config = late_node(net, tmp_path, 3)
        killed = net.nodes[KILLED]

        def step(done, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + timeout
            while not done():
                scores.poll(net.nodes)
                for node in net.nodes:
                    if node is not killed:  # the first B process ends at its crash point
                        assert node.running(), f"node {node.index} exited:\n{node.log_tail(30)}"
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.2)

        step(lambda: chain.finalized_outcome(1) is not None, "round 1 to finalize")
        net.nodes.append(start_node(3, late_address, late_config.parent, late_config))
        step(lambda: not killed.running(), "B's crash in round 2's exchange")
        assert killed.process.returncode == -signal.SIGKILL, killed.log_tail(30)
        assert 2 not in records(killed), "B finished round 2 before its crash"
        net.nodes[KILLED] = start_node(KILLED, killed.address, killed.data_dir,
                                       killed.data_dir / "config.toml")  # fmt: skip
        last = 0

        def finished() -> bool:
            """Sets ``last``: the first round after B's crash that D committed in and every
            node recorded as finalized."""
            nonlocal last
            mine = records(net.nodes[3])
            joined = [r for r, rec in mine.items() if r > 2 and rec.get("committed")]
            if not joined:
                return False
            last = min(joined)
            return all((records(n).get(last) or {}).get("finalized_cid") for n in net.nodes)

        step(finished, "a round D committed in, recorded by every node")
        time.sleep(2.0)  # a last look after the final announcements
        scores.poll(net.nodes)
        honest = {str(n.status()["peer_id"]) for n in net.nodes}
        statuses = [n.status() for n in net.nodes]
        logs = [n.log_path.read_text() for n in net.nodes]
        sends = sends_per_author(chain)
        outcomes = {r: chain.finalized_outcome(r) for r in range(1, last + 1)}

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
    for r in range(1, last + 1):
        for node in net.nodes:
            assert sends[("Committed", r, node.address)] <= 1, (node.index, r, sends)
            assert sends[("OutcomeSubmitted", r, node.address)] <= 1, (node.index, r, sends)
            if node.index < 3:
                assert sends[("Committed", r, node.address)] == 1, (node.index, r, sends)
    assert sends[("Committed", last, late_address)] == 1, sends
    restarted_log = logs[KILLED]
    assert "AlreadyCommitted" not in restarted_log and "AlreadyVoted" not in restarted_log
