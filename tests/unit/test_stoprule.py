"""The stop rule's node-side pieces: metric encoding, --target-accuracy, deploy bounds,
the client's parameter plumbing (the rule itself: contracts/test/*.stoprule.t.sol)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from node.chain.client import STOP_RULE_PARAMS, ChainParams
from node.chain.deploy import DeployParams
from node.errors import ConfigError
from node.operator.deploy import DeployRequest, plan_deployment
from node.stoprule import accuracy_to_bps, metric_bps_of


@pytest.mark.parametrize(
    ("accuracy", "bps"),
    [(0.0, 0), (0.91234, 9123), (0.91235, 9124), (1.0, 10_000), (1.2, 10_000), (-0.1, 0)],
)
def test_metric_bps_of_rounds_and_clamps(accuracy: float, bps: int) -> None:
    assert metric_bps_of(accuracy) == bps


def test_metric_bps_of_nan_is_zero() -> None:
    assert metric_bps_of(math.nan) == 0


@pytest.mark.parametrize(
    ("value", "bps"), [(0, 0), (0.9, 9000), (90, 9000), (1, 10_000), (100, 10_000)]
)
def test_target_accuracy_takes_a_fraction_or_a_percentage(value: float, bps: int) -> None:
    assert accuracy_to_bps(value) == bps


@pytest.mark.parametrize("value", [-0.5, 100.5, math.nan])
def test_target_accuracy_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="target accuracy"):
        accuracy_to_bps(value)


def test_plan_maps_the_stop_rule_options() -> None:
    plan = plan_deployment(DeployRequest(target_accuracy=95, patience=3, max_rounds=40))
    p = plan.params
    assert (p.target_metric_bps, p.patience, p.max_rounds) == (9500, 3, 40)
    assert DeployParams().as_tuple()[-3:] == (0, 0, 0)  # off by default
    assert plan.params.as_tuple()[-3:] == (9500, 3, 40)  # the Solidity struct's last fields


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (DeployRequest(target_accuracy=101), "--target-accuracy: target accuracy must be"),
        (DeployRequest(patience=-1), "--patience must be >= 0"),
        (DeployRequest(max_rounds=1_000_001), r"--max-rounds must be in \[0, 1000000\] rounds"),
    ],
)
def test_bad_stop_rule_options_are_refused(request_: DeployRequest, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_deployment(request_)


def test_old_deployment_files_load_with_the_rule_off() -> None:
    old: dict[str, Any] = {"min_stake": 1, "commit_window": 60}
    params = DeployParams(**old)
    assert (params.target_metric_bps, params.patience, params.max_rounds) == (0, 0, 0)


def test_chain_params_take_the_contract_tuple_in_order() -> None:
    raw = (*range(1, 14), 9000, 2, 7)  # params() as the contract returns it
    params = ChainParams(*raw)
    assert [getattr(params, k) for k in STOP_RULE_PARAMS] == [9000, 2, 7]
