"""`fedchain demo --dp ...`: checked before anything starts; report.json's epsilon per node."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.demo.options import DemoOptions, check_options
from node.errors import ConfigError
from node.privacy.report import privacy_per_node
from tests.integration.ports import free_port


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"dp": "global"}, "--dp must be one of"),
        ({"dp_noise": 1.0}, "apply with --dp local or --dp distributed"),
        ({"dp": "local", "dp_clip": -1.0}, "--dp-clip must be > 0"),
    ],
)
def test_bad_dp_options(tmp_path: Path, kw: dict[str, object], needle: str) -> None:
    opts = DemoOptions(data_root=tmp_path, port=free_port(), task="digits-mlp", **kw)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=needle):
        check_options(opts)


def test_privacy_per_node() -> None:
    spent = {"mode": "local", "epsilon": 1.0, "epsilon_update": 1.0, "delta": 1e-5, "rounds": 1}
    statuses = {
        "0xa": {"records": [{"round": 1, "privacy": spent}, {"round": 2}]},
        "0xb": {"records": []},
    }
    assert privacy_per_node(statuses) == {
        "0xa": [{"round": 1, "epsilon": 1.0, "epsilon_update": 1.0, "rounds": 1}],
        "0xb": [],
    }
