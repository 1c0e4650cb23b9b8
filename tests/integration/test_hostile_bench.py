"""bench/hostile.py --quick: a real devnet, 4 honest node processes, 2 registered hostile
peers (a drip provider announced for every commitment; Bitswap want-block bursts and half
frames, its answers left unread) and an unregistered one (idle block streams, oversize and
garbage pubsub RPCs),
and with ``--mode all`` H1 and U also flooding the announcement topic with hostile pushes
(not the author, over the per-signer limit; U's unregistered); one clean round then one
under attack. Asserts on its JSON line, never on wall time, including that the honest
nodes disconnected the flooders once they graylisted them, and no honest peer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BENCH = Path(__file__).resolve().parents[2] / "bench" / "hostile.py"


def test_quick_hostile_bench_finalizes_every_round_in_agreement() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--mode", "all"],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, run.stdout
    out = json.loads(lines[0])
    assert out["rounds_total"] == 2
    assert out["rounds_finalized"] == out["rounds_total"], out
    assert out["agreement"] is True, out
    assert out["honest_blacklisted"] == 0, out
    assert out["min_honest_score"] > -100, out
    # the attack really happened and the honest nodes saw it
    sent = out["attackers_sent"]
    for what in ("provider_announcements", "want_block_bursts", "half_frames"):
        assert sent.get(what, 0) > 0, sent
    for what in ("streams_left_unread",):  # H2 never reads the answers to its wants
        assert sent.get(what, 0) > 0, sent
    for what in ("idle_streams_opened", "bad_pubsub_rpcs"):
        assert sent.get(what, 0) > 0, sent
    counters = out["counters"]
    assert counters.get("blockstream.refused.unregistered", 0) > 0, counters
    assert counters.get("bitswap.rejected.duplicate_want", 0) > 0, counters
    assert counters.get("bitswap.charged.send_stall", 0) > 0, counters
    assert counters.get("gossip.transport.oversize_rpc", 0) > 0, counters
    assert out["fetch_s_attack"] > 0 and out["fetch_s_clean"] > 0, out
    # the push flood: both peers sent, the honest nodes refused it by reason, held little
    pushes = out["push_flood"]
    for peer in ("h1", "u"):
        assert any(k.startswith(f"pushes_{peer}_") and n > 0 for k, n in sent.items()), sent
    refused = pushes["pushes_rejected_total"]
    for reason in ("unregistered", "not_author", "push_limit"):
        assert refused.get(reason, 0) > 0, refused
    assert pushes["push_cache_under_bound"] is True, pushes
    # the flooders were cut off once graylisted: H1 for its own not_author / push_limit
    # pushes, U for its garbage frames; no honest peer ever was
    gone = out["disconnected"]
    assert gone["h1"] > 0 and gone["u"] > 0 and gone["honest"] == 0, gone
    assert counters.get("p2p.disconnected.graylisted", 0) >= gone["h1"] + gone["u"], counters
