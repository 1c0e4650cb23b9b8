"""bench/scale.py, short: 4 node processes on a real devnet, committees of 2, one
round. Asserts on its JSON line (shape, and figures consistent with a committee:
every round finalized, members agree, the others observed), never on wall time."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.integration
BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
K = 2
SIZES = (4,)
PHASES = {"train_commit", "wait_commit_close", "exchange", "aggregate", "vote_finalize"}


def test_short_scale_bench_finalizes_with_committees_in_agreement() -> None:
    command = [sys.executable, str(BENCH), "--nodes", ",".join(map(str, SIZES))]
    command += ["--committee", str(K), "--rounds", "1"]
    command += ["--commit-window", "60", "--vote-window", "60"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=500)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, run.stdout
    out = json.loads(lines[0])
    assert out["bench"] == "scale" and out["committee"] == K and out["rounds"] == 1
    assert out["ok"] is True
    assert out["growth_32_over_8"] is None  # neither 8 nor 32 ran
    assert sorted(out["runs"]) == sorted(str(n) for n in SIZES)
    for n in SIZES:
        run_n = out["runs"][str(n)]
        assert "error" not in run_n, run_n
        assert run_n["nodes"] == n
        assert run_n["rounds_finalized"] == run_n["rounds_total"] == 1, run_n
        assert run_n["agreement"] is True, run_n
        assert run_n["agreed"] == [f"{K}/{K}"], run_n
        assert run_n["committee_per_round"] == [K], run_n
        assert run_n["not_selected_records"] == n - K, run_n  # the others observed
        # members fetch the other member's update unless its author's push came first
        # (agreed K/K above: every member verified it); observers fetch no update
        assert run_n["fetches_per_node_round_max"] <= K - 1, run_n
        assert 0 <= run_n["fetches_per_node_round"] <= K * (K - 1) / n + 1e-3, run_n
        assert 0 <= run_n["fetches_per_member_round"] <= K - 1, run_n
        assert set(run_n["phase_mean_s"]) >= PHASES, run_n
        assert run_n["mean_round_s"] > 0 and run_n["cycle_s"] is not None, run_n
        assert run_n["peak_rss_mb_max"] > 0, run_n
        assert run_n["demo_exit"] == 0, run_n
        # one round: no round after start-up to take CPU per round from
        assert run_n["cpu_s_per_member_round"] is None and "cpu_s_per_round_anvil" in run_n


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_summary_catches_disagreement_and_differing_committee_views() -> None:
    """The figures fail when they should: a member that computed another model, and a node
    that recorded itself unselected although the chain drew it."""
    bench = _load_bench()
    nodes = ["0xA", "0xB", "0xC"]
    info = SimpleNamespace(round=1, opened_at=100, finalized_at=107)
    timings = {"train_commit": 1.0, "exchange": 2.0}

    def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
        statuses = [
            {"records": [r], "metrics": {"fetch_seconds_count": 1},
             "p2p": {"gossip.in.messages": 0 if r.get("selected") is False else 4}}
            for r in records
        ]  # fmt: skip
        sampler = bench.Sampler(Path("."), 3, 1)
        return dict(
            bench.summarize(3, 1, [info], {1: "M"}, {1: ["0xA", "0xB"]}, statuses, nodes,
                            sampler, 10.0)
        )  # fmt: skip

    member = {"round": 1, "model_cid": "M", "finalized_cid": "M", "timings": timings}
    observer = {"round": 1, "selected": False, "model_cid": None, "finalized_cid": "M"}
    good = summary([member, member, observer])
    assert good["agreement"] is True and good["agreed"] == ["2/2"], good
    assert good["not_selected_records"] == 1 and good["committee_views_differ"] == 0
    assert good["mean_round_s"] == 3.0 and good["cycle_s"] == 7.0
    assert good["fetches_per_node_round"] == 1.0 and good["fetches_per_member_round"] == 1.5
    assert good["gossip_in_per_node_round"] == 2.7 and good["gossip_in_per_node_round_max"] == 4
    split = summary([member, {**member, "model_cid": "X"}, observer])
    assert split["agreement"] is False and split["agreed"] == ["1/2"], split
    blind = summary([member, observer, observer])
    assert blind["agreement"] is False and blind["committee_views_differ"] == 1, blind
    intruder = summary([member, member, member])
    assert intruder["agreement"] is False and intruder["committee_views_differ"] == 1


def test_cpu_per_round_splits_members_observers_and_anvil() -> None:
    """CPU seconds between a node's records of rounds r - 1 and r, by its role in round r;
    round 1 (start-up) is never counted."""
    bench = _load_bench()
    statuses = [
        {"records": [{"round": 1}, {"round": 2}, {"round": 3, "selected": False}]},
        {"records": [{"round": 1, "selected": False}, {"round": 2, "selected": False}]},
    ]
    cpu = {0: {1: 10.0, 2: 11.5, 3: 12.0}, 1: {1: 9.0, 2: 9.25}}
    out = bench.cpu_per_round(cpu, statuses, {1: 100.0, 3: 101.0})
    assert out["cpu_s_per_member_round"] == 1.5
    assert out["cpu_s_per_observer_round"] == 0.375  # (0.5 + 0.25) / 2
    assert out["cpu_s_per_round_anvil"] == 0.5
    assert out["cpu_s_per_round_nodes"] == 1.125  # round 2: 1.75, round 3: 0.5
    assert out["cpu_rounds_sampled"] == {"member": 1, "observer": 2}
    assert bench.cpu_per_round({}, [], {})["cpu_s_per_member_round"] is None


def test_counters_per_round_split_by_role() -> None:
    """Counter growth between a node's records of rounds r - 1 and r, by its role in r."""
    bench = _load_bench()
    statuses = [
        {"records": [{"round": 1}, {"round": 2}, {"round": 3, "selected": False}]},
        {"records": [{"round": 1}, {"round": 2, "selected": False}]},
    ]
    reads = 'chain_reads_total{read="round_view"}'
    counters = {
        0: {1: {reads: 4.0}, 2: {reads: 10.0, "connect.dialled": 2.0}, 3: {reads: 11.0}},
        1: {1: {reads: 1.0}, 2: {reads: 4.0}},
    }
    out = bench.counters_per_round(counters, statuses)
    assert out["counters_per_member_round"] == {reads: 6.0, "connect.dialled": 2.0}
    assert out["counters_per_observer_round"] == {reads: 2.0}  # (1 + 3) / 2
    status = {"metrics": {reads: 3, "rounds_total": 1}, "p2p": {"yamux.frames_out": 9}}
    assert bench._counters(status) == {reads: 3.0, "yamux.frames_out": 9.0}
