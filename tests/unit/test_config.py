"""Table-driven: file < environment < flags maps onto one frozen NodeConfig."""

from pathlib import Path

import pytest

from node.config import NodeConfig, load_config
from node.errors import ConfigError

BASE = """
[node]
data_dir = "data"
deployment = "deployment.json"
key_file = "key.hex"
epochs = 2
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(BASE)
    return path


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        ({}, {}, {"epochs": 2, "listen_port": 0, "auto_claim": True}),
        ({"FEDCHAIN_EPOCHS": "3"}, {}, {"epochs": 3}),
        ({"FEDCHAIN_EPOCHS": "3"}, {"epochs": 4}, {"epochs": 4}),
        ({"FEDCHAIN_AUTO_CLAIM": "false"}, {}, {"auto_claim": False}),
        ({}, {"listen_port": 4001, "max_rounds": None}, {"listen_port": 4001, "max_rounds": 0}),
        (
            {"FEDCHAIN_BOOTSTRAP": "/ip4/1.2.3.4/tcp/1, /ip4/5.6.7.8/tcp/2"},
            {},
            {"bootstrap": ("/ip4/1.2.3.4/tcp/1", "/ip4/5.6.7.8/tcp/2")},
        ),
        ({"FEDCHAIN_LR": "0.1", "OTHER": "x"}, {}, {"lr": 0.1}),
        ({"FEDCHAIN_LOG_LEVEL": "DEBUG"}, {}, {"log_level": "DEBUG"}),
        ({}, {"overlay_degree": 3}, {"overlay_degree": 3, "log_level": "INFO"}),
    ],
)
def test_layers(config_file: Path, env: dict, flags: dict, expected: dict) -> None:
    cfg = load_config(config_file, flags, env)
    assert isinstance(cfg, NodeConfig)
    for key, value in expected.items():
        assert getattr(cfg, key) == value
    assert cfg.data_dir == (config_file.parent / "data").resolve()


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        ({"FEDCHAIN_EPOCHS": "two"}, {}, "'epochs' from environment"),
        ({}, {"epochs": 0}, "'epochs' must be >= 1"),
        ({}, {"partition_index": 5}, "'partition_index' must be in"),
        ({}, {"bogus": 1}, "unknown config key 'bogus'"),
        ({"FEDCHAIN_AUTO_CLAIM": "maybe"}, {}, "'auto_claim'"),
        ({}, {"attack": "alie"}, "unknown config key 'attack'"),  # see tests/unit/attacks
        ({"FEDCHAIN_LOG_LEVEL": "chatty"}, {}, "'log_level' must be DEBUG, INFO"),
        ({}, {"overlay_degree": 0}, "'overlay_degree' must be >= 1"),
    ],
)
def test_bad_values_name_the_key(config_file: Path, env: dict, flags: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config_file, flags, env)


def test_missing_file_and_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", {}, {})
    (tmp_path / "bad.toml").write_text("epochs = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml", {}, {})
    with pytest.raises(ConfigError, match="missing config key"):
        load_config(None, {}, {})


def test_config_is_frozen(config_file: Path) -> None:
    cfg = load_config(config_file, {}, {})
    with pytest.raises(AttributeError):
        cfg.epochs = 9  # type: ignore[misc]
