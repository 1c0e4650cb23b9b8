"""Simulation settings live in a config's [simulation] table, outside the node's config, and
select the update behaviour; `fedchain node run`'s config loader never sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.attacks.simulation import Attacker, SimulationConfig, behaviour_for, load_simulation
from node.config import load_config
from node.demo.processes import simulated
from node.errors import ConfigError

NODE = """
[node]
data_dir = "data"
deployment = "deployment.json"
key_file = "key.hex"
partition_count = 4
"""


def _write(tmp_path: Path, simulation: str = "", name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(NODE + simulation)
    return path


def test_the_simulation_table_and_environment_select_the_attacker(tmp_path: Path) -> None:
    path = _write(tmp_path, '\n[simulation]\nattack = "alie"\nattack_group = [3, 2]\n')
    cfg = load_config(path, environ={})  # the node's loader ignores [simulation]
    assert load_simulation(path, cfg, environ={}) == SimulationConfig("alie", (3, 2))
    env = {"FEDCHAIN_ATTACK": "ipm", "FEDCHAIN_ATTACK_GROUP": "0, 1"}
    sim = load_simulation(path, cfg, environ=env)
    assert sim == SimulationConfig("ipm", (0, 1))
    behaviour = behaviour_for(sim, cfg)
    assert isinstance(behaviour, Attacker) and behaviour.crafts and behaviour.serves
    assert not behaviour_for(SimulationConfig("withhold"), cfg).serves
    plain = _write(tmp_path, name="honest.toml")
    honest = behaviour_for(load_simulation(plain, cfg, environ={}), cfg)
    assert not honest.crafts and honest.serves
    assert simulated(path) and not simulated(plain)


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ('attack = "alie"\n', {"FEDCHAIN_ATTACK_GROUP": "1,x"}, "'attack_group': bad value"),
        ('attack = "alie"\nattack_group = [0, 4]\n', {}, "'attack_group' must list partition"),
        ("attack_group = [0]\n", {}, "'attack_group' needs an attack"),
        ('attack = "nope"\n', {}, "unknown attack 'nope'"),
        ('attack = "alie"\nbogus = 1\n', {}, r"unknown \[simulation\] key\(s\): bogus"),
    ],
)
def test_bad_simulation_settings_name_the_key(
    tmp_path: Path, table: str, env: dict[str, str], message: str
) -> None:
    path = _write(tmp_path, "\n[simulation]\n" + table)
    cfg = load_config(path, environ={})
    with pytest.raises(ConfigError, match=message):
        load_simulation(path, cfg, environ=env)
