"""Attack registry and the context an attack sees."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from node.errors import ConfigError
from node.update.fixedpoint import FixedParams

Aggregator = Callable[[Sequence[FixedParams]], FixedParams]
"""Runs the deployment's rule on (byzantine deltas + the honest ones) -> aggregate delta."""


@dataclass(frozen=True)
class AttackContext:
    honest: Sequence[Mapping[str, np.ndarray]]  # this round's honest deltas (omniscient view)
    f: int  # number of Byzantine deltas to produce
    rng: np.random.Generator
    aggregate: Aggregator | None = None  # the rule in use, for attacks that tune against it
    previous: Mapping[str, np.ndarray] | None = None  # previous round's global delta (public)
    visible: Sequence[Mapping[str, np.ndarray]] | None = None  # updates a copier can see
    norm_bound: int | None = None  # fixed-point L2 bound enforced by verification
    options: Mapping[str, float] = field(default_factory=dict)


Kind = Literal["model", "invalid", "data", "protocol"]


@dataclass(frozen=True)
class Attack:
    name: str
    # model: craft deltas; invalid: craft deltas that verification must reject (slashed);
    # data: train on transformed labels; protocol: withhold
    kind: Kind
    craft: Callable[[AttackContext], list[FixedParams]] | None = None
    labels: Callable[[np.ndarray], np.ndarray] | None = None
    doc: str = ""
    # crafted from this round's honest updates (their mean, spread or the updates
    # themselves): only an omniscient attacker can, since commit-reveal hides them until
    # every commitment is on chain. Benchmarks use it to stress the rule; a participant
    # cannot collect rewards with it.
    omniscient: bool = False


_REGISTRY: dict[str, Attack] = {}


def register(attack: Attack) -> Attack:
    _REGISTRY[attack.name] = attack
    return attack


def attack_names() -> list[str]:
    return sorted(_REGISTRY)


def get_attack(name: str) -> Attack:
    key = name.strip().lower().replace("-", "_")
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ConfigError(f"unknown attack {name!r}; known: {', '.join(attack_names())}") from None
