"""--algorithm / --prox-mu: validated into the deployment's training section."""

from __future__ import annotations

import pytest

from node.chain.deploy import Deployment
from node.errors import ConfigError
from node.learning.spec import TrainingSpec
from node.operator.deploy import DEFAULT_PROX_MU, DeployRequest, differences, plan_deployment


def test_default_is_plain_fedavg() -> None:
    assert plan_deployment(DeployRequest()).training == TrainingSpec()


def test_fedprox_gets_the_default_mu_unless_given() -> None:
    plan = plan_deployment(DeployRequest(algorithm="fedprox"))
    assert (plan.training.algorithm, plan.training.prox_mu) == ("fedprox", DEFAULT_PROX_MU)
    plan = plan_deployment(DeployRequest(algorithm="fedprox", prox_mu=0.5))
    assert plan.training.prox_mu == 0.5
    assert plan_deployment(DeployRequest(algorithm="fednova")).training.algorithm == "fednova"


@pytest.mark.parametrize(
    "request_,message",
    [
        (DeployRequest(algorithm="scaffold"), "--algorithm must be one of fedavg"),
        (DeployRequest(prox_mu=0.1), "--prox-mu applies to --algorithm fedprox only"),
        (DeployRequest(algorithm="fednova", prox_mu=0.1), "fedprox only"),
        (DeployRequest(algorithm="fedprox", prox_mu=0.0), "--prox-mu must be > 0"),
        (DeployRequest(algorithm="fedprox", prox_mu=-1.0), "--prox-mu must be > 0"),
    ],
)
def test_bad_training_options_name_the_flag(request_: DeployRequest, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_deployment(request_)


def test_differences_name_the_training_and_files_round_trip_it() -> None:
    existing = Deployment(
        chain_id=31337, rpc_url="http://127.0.0.1:8545", token="0x" + "11" * 20,
        coordinator="0x" + "22" * 20, deployer="0x" + "33" * 20, deploy_block=1,
        genesis_model_cid="bafk", task_id="digits-mlp",
        training=TrainingSpec(algorithm="fedprox", prox_mu=0.1),
    )  # fmt: skip
    assert Deployment.from_json(existing.to_json()) == existing
    assert differences(existing, DeployRequest(algorithm="fedprox", prox_mu=0.1)) == []
    assert differences(existing, DeployRequest(algorithm="fednova")) == [
        "training fedprox (mu=0.1) (asked fednova)"
    ]
    assert differences(existing, DeployRequest()) == []  # not asked: not compared
