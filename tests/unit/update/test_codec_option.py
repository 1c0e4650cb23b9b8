"""--update-codec: validated into the deployment's training section, carried by its file."""

from __future__ import annotations

import pytest

from node.chain.deploy import Deployment
from node.errors import ConfigError
from node.learning.spec import TrainingSpec
from node.operator.deploy import DeployRequest, differences, plan_deployment


def test_default_is_the_dense_codec_and_compressed_is_an_option() -> None:
    assert plan_deployment(DeployRequest()).training.update_codec == "fxp32-q16"
    plan = plan_deployment(DeployRequest(update_codec="topk-int8-p100"))
    assert plan.training.update_codec == "topk-int8-p100"
    with pytest.raises(ConfigError, match="--update-codec: unknown update codec 'zip'"):
        plan_deployment(DeployRequest(update_codec="zip"))


def test_deployment_file_carries_the_codec() -> None:
    existing = Deployment(
        chain_id=31337, rpc_url="http://127.0.0.1:8545", token="0x" + "11" * 20,
        coordinator="0x" + "22" * 20, deployer="0x" + "33" * 20, deploy_block=1,
        genesis_model_cid="bafk", task_id="digits-mlp",
        training=TrainingSpec(update_codec="topk-int8-p50"),
    )  # fmt: skip
    assert Deployment.from_json(existing.to_json()) == existing
    assert TrainingSpec.from_json({"algorithm": "fedavg"}).update_codec == "fxp32-q16"
    assert differences(existing, DeployRequest(update_codec="topk-int8-p50")) == []
    assert differences(existing, DeployRequest(update_codec="fxp32-q16")) == [
        "training fedavg, updates compressed (topk-int8-p50, error feedback) (asked fedavg)"
    ]
