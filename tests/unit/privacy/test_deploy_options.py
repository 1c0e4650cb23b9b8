"""--dp / --dp-clip / --dp-noise become the deployment's training section, checked first."""

from __future__ import annotations

import pytest

from node.errors import ConfigError
from node.operator.deploy import DeployRequest, _training_text, plan_deployment


def test_dp_options_fill_the_training_section() -> None:
    spec = plan_deployment(DeployRequest(dp="distributed", dp_clip=0.2, dp_noise=1.5)).training
    assert (spec.dp_mode, spec.dp_clip_norm, spec.dp_noise_multiplier) == ("distributed", 0.2, 1.5)
    assert "distributed DP (clip 0.2, noise multiplier 1.5" in _training_text(spec)
    default = plan_deployment(DeployRequest(dp="local")).training
    assert (default.dp_clip_norm, default.dp_noise_multiplier) == (0.1, 1.0)
    off = plan_deployment(DeployRequest()).training
    assert (off.dp_mode, off.dp_clip_norm) == ("off", 0.0)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (DeployRequest(dp_clip=0.1), "--dp-clip and --dp-noise apply with --dp"),
        (DeployRequest(dp="global"), "--dp must be one of off, local, distributed"),
        (DeployRequest(dp="local", dp_clip=0.0), "--dp-clip must be > 0"),
        (DeployRequest(dp="local", dp_clip=1.0, dp_noise=50.0), "noise std"),
    ],
)
def test_bad_dp_options_are_refused(request_: DeployRequest, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_deployment(request_)
