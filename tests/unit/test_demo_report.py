"""The demo's verdict and summaries: slashes, rewards, disagreement (pure functions)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from node.demo.report import (
    byzantine_reward_share,
    committed_rounds,
    node_summaries,
    round_rows,
    verdict,
)
from node.demo.run import DemoOptions
from node.errors import ConfigError

HONEST = ["0xA", "0xB", "0xC"]
BYZ = "0xD"


def _status(cid: str, reward: int) -> dict[str, Any]:
    return {
        "records": [
            {"round": 1, "status": "finalized", "model_cid": cid, "reward": reward,
             "accuracy": 0.8, "rejected": {BYZ: "norm_bound"}, "timings": {"train": 1.0}}
        ]
    }  # fmt: skip


def _rows(slashed: dict[str, int]) -> list[dict[str, Any]]:
    statuses = {a: _status("bafyM", 100) for a in HONEST}
    statuses[BYZ] = _status("bafyX", 0)
    return round_rows(1, statuses, {1: "bafyM"}, {1: slashed})


def test_rows_and_summaries_carry_slashes() -> None:
    rows = _rows({BYZ: 5})
    assert rows[0]["slashed"] == {BYZ: 5}
    roles = {**{a: "honest" for a in HONEST}, BYZ: "byzantine"}
    statuses = {a: _status("bafyM", 100) for a in HONEST} | {BYZ: _status("bafyX", 0)}
    nodes = node_summaries(roles, statuses, rows)
    byz = next(n for n in nodes if n["address"] == BYZ)
    assert (byz["slashed"], byz["rounds_slashed"]) == (5, 1)
    assert all(n["slashed"] == 0 for n in nodes if n["address"] != BYZ)
    assert nodes[0]["rejected_by_reason"] == {"norm_bound": 1}
    assert byzantine_reward_share(nodes) == 0.0


def test_verdict_requires_invalid_senders_to_be_slashed() -> None:
    honest = set(HONEST)
    assert verdict(_rows({BYZ: 5}), 0.1, 1, honest, must_be_slashed={BYZ: {1}}) == []
    problems = verdict(_rows({}), 0.1, 1, honest, must_be_slashed={BYZ: {1}})
    assert problems == [f"{BYZ} sent invalid updates but was not slashed in [1]"]
    # a round it sat out (e.g. deactivated after earlier slashes) needs no slash
    assert verdict(_rows({}), 0.1, 1, honest, must_be_slashed={BYZ: set()}) == []
    assert committed_rounds({"records": [{"round": 1, "committed": True},
                                         {"round": 2, "committed": False}]}) == {1}  # fmt: skip


def test_verdict_flags_a_slashed_honest_node_and_too_much_byzantine_reward() -> None:
    problems = verdict(_rows({"0xA": 5}), 0.1, 1, set(HONEST), 0.05, byzantine_share=0.2)
    assert "round 1: honest nodes slashed: ['0xA']" in problems
    assert any("Byzantine nodes earned 20.0%" in p for p in problems)


def test_attacks_are_dealt_to_the_byzantine_nodes_in_turn() -> None:
    opts = DemoOptions(nodes=6, byzantine=3, attack="alie, boost")
    assert [opts.attack_of(i) for i in range(6)] == ["", "", "", "alie", "boost", "alie"]
    assert DemoOptions(nodes=4, byzantine=0).attack_of(3) == ""
    with pytest.raises(ConfigError, match="at least one attack"):
        DemoOptions(nodes=4, byzantine=1, attack=" , ").attack_of(3)


def test_attackers_with_the_same_attack_collude() -> None:
    opts = DemoOptions(nodes=6, byzantine=3, attack="alie, boost")
    assert [opts.attack_group(i) for i in range(6)] == [(), (), (), (3, 5), (4,), (3, 5)]
    alone = DemoOptions(nodes=6, byzantine=3, attack="alie", collude=False)
    assert alone.attack_group(4) == ()


def test_nodes_outside_the_committee_do_not_count_as_disagreeing() -> None:
    observed = {"round": 1, "status": "finalized", "selected": False, "model_cid": None,
                "finalized_cid": "bafyM", "reward": 0}  # fmt: skip
    statuses = {"0xA": _status("bafyM", 100), "0xB": _status("bafyM", 100)}
    statuses["0xC"] = {"records": [observed]}
    rows = round_rows(1, statuses, {1: "bafyM"})
    assert rows[0]["node_cids"] == {"0xA": "bafyM", "0xB": "bafyM"}
    assert verdict(rows, 0.1, 1, set(statuses)) == []
    # a member that computed nothing still disagrees
    statuses["0xB"] = {"records": [{**observed, "selected": True}]}
    problems = verdict(round_rows(1, statuses, {1: "bafyM"}), 0.1, 1, set(statuses))
    assert problems == ["round 1: honest nodes disagree on the model CID"]


def test_report_rows_get_the_chains_agreed_metric_and_the_stop_rule() -> None:
    from types import SimpleNamespace

    from node.chain.client import ChainParams, DeploymentEnd, StopReason
    from node.demo.report import chain_stop_rule

    end = DeploymentEnd(2, StopReason.MAX_ROUNDS, 9100, "bafy2")
    word = 2 | (9100 << 32) | (2 << 80)  # 2 finalized, best 9100, 0 since, finished at 2
    params = ChainParams(*([0] * len(ChainParams.__dataclass_fields__)))
    chain = SimpleNamespace(
        agreed_metrics=lambda rounds: [{1: 8000, 2: 9100}[r] for r in rounds],
        params=lambda: dataclasses.replace(params, max_rounds=2),
        storage_word=lambda slot: word,
        deployment_end=lambda: end,
    )
    rows = round_rows(3, {"0xA": _status("bafy1", 1)}, {1: "bafy1", 2: "bafy2", 3: None})
    stop = chain_stop_rule(chain, rows)  # type: ignore[arg-type]
    assert [row["agreed_metric_bps"] for row in rows] == [8000, 9100, None]
    assert stop["max_rounds"] == 2 and stop["finalized_rounds"] == 2
    assert (stop["finished"], stop["finished_round"], stop["reason"]) == (True, 2, "max rounds")
    assert stop["final_model_cid"] == "bafy2" and stop["rounds_without_improvement"] == 0
