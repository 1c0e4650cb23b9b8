"""The accountant wraps opacus' RDP accountant: same epsilon for the same mechanism."""

from __future__ import annotations

import math

import pytest
from opacus.accountants import RDPAccountant

from node.privacy import ledger
from node.privacy.accountant import (
    DpRound,
    epsilons,
    exceeds_budget,
    multiplier_for,
    rdp_epsilon,
)


def opacus_epsilon(steps: list[tuple[float, float]], delta: float) -> float:
    accountant = RDPAccountant()
    for z, q in steps:
        accountant.step(noise_multiplier=z, sample_rate=q)
    return float(accountant.get_epsilon(delta))


@pytest.mark.parametrize(
    ("z", "rounds", "delta"), [(1.1, 1, 1e-5), (6.68, 20, 1e-5), (3.0, 7, 1e-6)]
)
def test_epsilon_equals_opacus_stepping_round_by_round(z: float, rounds: int, delta: float) -> None:
    assert rdp_epsilon([z] * rounds, delta) == pytest.approx(
        opacus_epsilon([(z, 1.0)] * rounds, delta), rel=1e-12
    )


def test_mixed_multipliers_compose_like_opacus() -> None:
    zs = [2.0, 2.0, 5.0, 1.5, 5.0]
    assert rdp_epsilon(zs, 1e-5) == pytest.approx(
        opacus_epsilon([(z, 1.0) for z in zs], 1e-5), rel=1e-12
    )


def test_epsilon_grows_with_rounds_and_shrinks_with_noise() -> None:
    assert rdp_epsilon([], 1e-5) == 0.0
    assert rdp_epsilon([2.0] * 5, 1e-5) < rdp_epsilon([2.0] * 6, 1e-5)
    assert rdp_epsilon([4.0] * 5, 1e-5) < rdp_epsilon([2.0] * 5, 1e-5)
    assert rdp_epsilon([0.0], 1e-5) == math.inf


def test_distributed_views_aggregate_and_individual_update() -> None:
    rounds = [DpRound(r, 4.0, 4, distributed=True) for r in range(1, 4)]
    eps, eps_update = epsilons(rounds, 1e-5)
    assert eps == pytest.approx(opacus_epsilon([(4.0, 1.0)] * 3, 1e-5))
    # each blob carries z / sqrt(K) = 2
    assert eps_update == pytest.approx(opacus_epsilon([(2.0, 1.0)] * 3, 1e-5))
    local = [DpRound(r, 4.0, 4, distributed=False) for r in range(1, 4)]
    assert epsilons(local, 1e-5) == (eps, eps)


def test_multiplier_for_reaches_the_target() -> None:
    z = multiplier_for(3.0, 1e-5, 20)
    eps = rdp_epsilon([z] * 20, 1e-5)
    assert 2.9 <= eps <= 3.0


def test_budget() -> None:
    z = multiplier_for(3.0, 1e-5, 4)
    spent = [DpRound(r, z, 8, False) for r in range(1, 4)]
    assert not exceeds_budget(spent, DpRound(4, z, 8, False), 1e-5, 3.0)
    assert exceeds_budget([*spent, DpRound(4, z, 8, False)], DpRound(5, z, 8, False), 1e-5, 3.0)
    assert not exceeds_budget(spent * 10, DpRound(99, z, 8, False), 1e-5, 0.0)  # no budget


def test_ledger_keeps_one_entry_per_round(tmp_path) -> None:
    assert ledger.load(tmp_path) == []
    ledger.record(tmp_path, DpRound(2, 1.0, 3, True))
    ledger.record(tmp_path, DpRound(1, 1.0, 3, True))
    rounds = ledger.record(tmp_path, DpRound(2, 1.0, 5, True))  # republished after a crash
    assert [(r.round, r.participants) for r in rounds] == [(1, 3), (2, 5)]
    assert ledger.load(tmp_path) == rounds
