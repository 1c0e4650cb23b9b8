"""`fedchain demo --algorithm/--prox-mu`: checked up front; the simulated FedAvg baseline
trains the way the deployment says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from node.attacks.simulation import SimulationConfig
from node.config import NodeConfig
from node.demo.baseline import simulate_rule
from node.demo.options import DemoOptions, check_options
from node.errors import ConfigError
from node.learning.spec import TrainingSpec
from tests.integration.ports import free_port


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"algorithm": "scaffold"}, "--algorithm must be one of fedavg, fedprox, fednova"),
        ({"algorithm": "fednova", "prox_mu": 0.1}, "--prox-mu applies to --algorithm fedprox"),
        ({"algorithm": "fedprox", "prox_mu": -1.0}, "--prox-mu must be > 0"),
    ],
)
def test_bad_training_options(tmp_path: Path, kw: dict[str, object], needle: str) -> None:
    base = {"port": free_port(), "data_root": tmp_path, "task": "digits-mlp"}
    with pytest.raises(ConfigError, match=needle):
        check_options(DemoOptions(**{**base, **kw}))  # type: ignore[arg-type]


def _configs(nodes: int = 3) -> list[tuple[NodeConfig, SimulationConfig]]:
    return [
        (NodeConfig(data_dir=Path("."), deployment=Path("."), key_file=Path("."),
                   task="digits-mlp", partition="dirichlet:0.1", partition_index=i,
                   partition_count=nodes, data_seed=i, epochs=1 + i), SimulationConfig())
        for i in range(nodes)
    ]  # fmt: skip


def test_the_baseline_trains_with_the_deployments_algorithm() -> None:
    curves = {
        name: simulate_rule(_configs(), 1, "fedavg", training=spec)
        for name, spec in {"sgd": None, "fednova": TrainingSpec(algorithm="fednova")}.items()
    }
    assert curves["sgd"] != curves["fednova"]  # nodes with 1, 2, 3 epochs: normalised
    assert all(0 < a <= 1 for c in curves.values() for a in c)
    assert np.isfinite(curves["fednova"]).all()
