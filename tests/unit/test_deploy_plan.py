"""Deployment parameters as typed on the command line: validated before anything starts."""

from __future__ import annotations

import pytest

from node.chain.deploy import Deployment, DeployParams
from node.errors import ConfigError
from node.operator.deploy import DeployRequest, differences, plan_deployment

TOKEN = 10**18


def test_defaults_are_the_contract_defaults_and_fedavg() -> None:
    plan = plan_deployment(DeployRequest())
    assert plan.params == DeployParams()
    assert (plan.task, plan.rule, plan.byzantine_f) == ("mnist5k-mlp", "fedavg", 0)


def test_pools_become_reward_per_round_and_voter_share() -> None:
    plan = plan_deployment(DeployRequest(contributor_pool="400", voter_pool="100"))
    assert plan.params.reward_per_round == 500 * TOKEN
    assert plan.params.voter_share_bps == 2000


def test_one_pool_alone_keeps_the_default_split() -> None:
    plan = plan_deployment(DeployRequest(contributor_pool="40"))
    assert plan.params.reward_per_round == 50 * TOKEN
    assert plan.params.voter_share_bps == 2000


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (DeployRequest(voter_pool="600", contributor_pool="400"), "at most 50%"),
        (DeployRequest(voter_pool="1", contributor_pool="2"), "whole number of 0.01%"),
        (DeployRequest(voter_pool="-1"), "--voter-pool must be a number of FED >= 0"),
        (DeployRequest(commit_window=5), "--commit-window must be in [10, 2592000]"),
        (DeployRequest(vote_window=31 * 86_400), "--vote-window must be in"),
        (DeployRequest(min_participants=0), "--min-participants must be in [1, 1000]"),
        (DeployRequest(min_stake="0"), "--min-stake must be a number of FED > 0"),
        (DeployRequest(min_stake="ten"), "is not a number of FED"),
        (DeployRequest(slash_percent="60"), "--slash must be in"),
        (DeployRequest(rule="bogus"), "unknown aggregation rule 'bogus'"),
        (DeployRequest(byzantine_f=-1), "--byzantine-f must be >= 0"),
        (DeployRequest(late_vote_grace=-1), "--late-vote-grace must be >= 0"),
        (DeployRequest(claim_period=59), "--claim-period must be in [60, 31536000]"),
        (DeployRequest(inactivity_rounds=0), "--inactivity-rounds must be in [1, 1000]"),
        (DeployRequest(inactivity_leak_percent="10.01"), "--inactivity-leak must be in"),
        (DeployRequest(inactivity_leak_percent="0.001"), "at most 2 decimals"),
        (DeployRequest(supply="1000", treasury="1001"), "more than the whole --supply"),
        (
            DeployRequest(rule="krum", byzantine_f=1, min_participants=3),
            "needs at least 5 updates per round",
        ),
        (DeployRequest(committee_size=129), "--committee-size must be in [0, 128]"),
        (DeployRequest(committee_size=-1), "--committee-size must be >= 0"),
        (
            DeployRequest(rule="krum", byzantine_f=1, min_participants=8, committee_size=3),
            "--committee-size 3 commits at most 3: give --committee-size 5 or more",
        ),
    ],
)
def test_bad_values_name_the_flag_and_the_fix(request_: DeployRequest, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_deployment(request_)
    assert needle in str(info.value)


def test_rule_is_canonical_and_fits_min_participants() -> None:
    plan = plan_deployment(DeployRequest(rule="NNM+trmean", byzantine_f=1, min_participants=3))
    assert (plan.rule, plan.byzantine_f) == ("nnm+trimmed_mean", 1)


def _deployment(**extra: object) -> Deployment:
    return Deployment(
        chain_id=31337, rpc_url="http://127.0.0.1:8545", token="0x" + "11" * 20,
        coordinator="0x" + "22" * 20, deployer="0x" + "33" * 20, deploy_block=1,
        genesis_model_cid="bafk", task_id="digits-mlp", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_differences_compare_only_what_was_asked() -> None:
    existing = _deployment(params=DeployParams(min_participants=2), rule="fedavg")
    assert differences(existing, DeployRequest()) == []
    assert differences(existing, DeployRequest(task="digits-mlp", min_participants=2)) == []
    changed = differences(existing, DeployRequest(min_participants=3, rule="median"))
    assert changed == ["min participants 2 (asked 3)", "rule fedavg (f=0) (asked median (f=0))"]


def test_deployment_files_round_trip_the_rule_and_task_and_old_files_still_load() -> None:
    new = _deployment(rule="median", byzantine_f=1, task="pkg.mod:make")
    assert Deployment.from_json(new.to_json()) == new
    old = new.to_json()
    for key in ("rule", "byzantine_f", "task"):
        del old[key]
    loaded = Deployment.from_json(old)
    assert (loaded.rule, loaded.task_spec) == ("", "digits-mlp")
    assert loaded.rule_for("krum", 2) == ("krum", 2)  # no rule recorded: the node's
    assert new.rule_for("krum", 2) == ("median", 1)


def test_incentive_parameters_and_supply_from_flags() -> None:
    plan = plan_deployment(
        DeployRequest(late_vote_grace=0, claim_period=3600, inactivity_rounds=10,
                      inactivity_leak_percent="0.5", supply="200000", treasury="150000")
    )  # fmt: skip
    p = plan.params
    assert (p.late_vote_grace, p.claim_period, p.inactivity_rounds) == (0, 3600, 10)
    assert p.inactivity_leak_bps == 50
    assert (p.supply, p.treasury) == (200_000 * TOKEN, 150_000 * TOKEN)
    assert p.as_tuple()[-8:-4] == (0, 3600, 10, 50)  # appended to the Solidity Params
    existing = _deployment(params=DeployParams())
    changed = differences(existing, DeployRequest(claim_period=3600, supply="10000000"))
    assert changed == ["claim period 86400 (asked 3600)"]


def test_committee_size_from_the_flag_is_the_last_solidity_param() -> None:
    plan = plan_deployment(DeployRequest(committee_size=8, min_participants=8))
    assert plan.params.committee_size == 8
    assert plan.params.as_tuple()[-4] == 8  # Params.committeeSize, before the stop rule's 3
    assert plan_deployment(DeployRequest()).params.committee_size == 0  # everyone
    existing = _deployment(params=DeployParams())
    assert differences(existing, DeployRequest(committee_size=8)) == ["committee size 0 (asked 8)"]
    old = existing.to_json()
    del old["params"]["committee_size"]  # a file written before committees
    assert Deployment.from_json(old).params.committee_size == 0
