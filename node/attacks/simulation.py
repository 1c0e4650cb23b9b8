"""Simulation settings and the Byzantine update behaviour they select.

A node config's ``[simulation]`` table (next to ``[node]``), or ``FEDCHAIN_ATTACK`` /
``FEDCHAIN_ATTACK_GROUP``, makes a node Byzantine; only the simulation entry point
(``python -m node.attacks``) reads it. ``fedchain node run`` ignores it: it always runs the
honest behaviour.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.aggregate.registry import Rule
from node.attacks.base import get_attack
from node.attacks.byzantine import attacker_pool, crafted_delta, is_withholding, poisoned_data
from node.behaviour import Trainer, UpdateBehaviour
from node.config import NodeConfig
from node.errors import ConfigError
from node.learning.tasks import Dataset
from node.update.fixedpoint import FixedParams


@dataclass(frozen=True)
class SimulationConfig:
    attack: str = ""  # make this node Byzantine (see node/attacks)
    # partition indices of colluding attackers (this node's included); they pool that data
    # and all send the same crafted update (see node/attacks/byzantine.py)
    attack_group: tuple[int, ...] = ()

    def check(self, cfg: NodeConfig) -> None:
        if self.attack:
            get_attack(self.attack)  # a clear error for an unknown name
        if not all(0 <= i < cfg.partition_count for i in self.attack_group):
            raise ConfigError(
                f"config key 'attack_group' must list partition indices in "
                f"[0, {cfg.partition_count})"
            )
        if self.attack_group and not self.attack:
            raise ConfigError(
                "config key 'attack_group' needs an attack (it only applies to Byzantine "
                "simulation nodes)"
            )


def load_simulation(
    path: Path | None, cfg: NodeConfig, environ: Mapping[str, str] | None = None
) -> SimulationConfig:
    """The ``[simulation]`` table of ``path`` < ``FEDCHAIN_ATTACK``/``_ATTACK_GROUP``,
    checked against the node's config."""
    raw: dict[str, Any] = {}
    if path is not None and path.is_file():
        raw.update(tomllib.loads(path.read_text()).get("simulation", {}))
    env = os.environ if environ is None else environ
    for key in ("attack", "attack_group"):
        if f"FEDCHAIN_{key.upper()}" in env:
            raw[key] = env[f"FEDCHAIN_{key.upper()}"]
    unknown = sorted(set(raw) - {"attack", "attack_group"})
    if unknown:
        raise ConfigError(f"unknown [simulation] key(s): {', '.join(unknown)}")
    sim = SimulationConfig(str(raw.get("attack", "")), _group(raw.get("attack_group", ())))
    sim.check(cfg)
    return sim


def _group(value: Any) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(int(str(v).strip()) for v in items if str(v).strip())
    except ValueError:
        raise ConfigError(f"config key 'attack_group': bad value {value!r}") from None


class Attacker(UpdateBehaviour):
    """A Byzantine simulation node: data attacks train on transformed labels, model attacks
    craft their delta (estimated from their own, or their group's pooled, data), and
    ``withhold`` commits an update it never serves. No DP noise either way."""

    crafts = True

    def __init__(self, sim: SimulationConfig, cfg: NodeConfig) -> None:
        self.attack = sim.attack
        self.group = sim.attack_group
        self.cfg = cfg
        self.serves = not is_withholding(sim.attack)
        self.pool: Dataset | None = None  # the colluding group's pooled data
        self.data: Dataset | None = None  # what this node trains on

    def training_data(self, train: Dataset, local: Dataset) -> Dataset:
        self.pool = attacker_pool(self.group, self.cfg, train)
        self.data = poisoned_data(self.attack, local)
        return self.data

    def craft(
        self, own: FixedParams, retrain: Trainer, rule: Rule, norm_bound: float, r: int
    ) -> FixedParams:
        if self.data is None:
            raise RuntimeError("Attacker.training_data must run before craft")
        return crafted_delta(
            self.attack, own, self.data, retrain, rule, norm_bound, r, None, pool=self.pool
        )


def behaviour_for(sim: SimulationConfig, cfg: NodeConfig) -> UpdateBehaviour:
    """The update behaviour ``sim`` selects (honest without an attack)."""
    if not sim.attack:
        return UpdateBehaviour()
    return Attacker(sim, cfg)
