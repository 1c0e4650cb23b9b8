"""Privacy cost per node with opacus' RDP accountant (no hand-written formulas).

Every round a node publishes a DP update is one Gaussian mechanism with sampling rate 1
(the node's whole local data set shapes the update; client-level DP). Two views:

- ``epsilon``: the mode's guarantee. Local DP: of the published update itself (noise
  multiplier z). Distributed DP: of the round's aggregate, whose noise is the sum of the K
  participants' shares (multiplier z), assuming no participant colludes against the node
  and nobody but the aggregate's consumers sees its individual update.
- ``epsilon_update``: of the individual update blob as peers fetch it: z locally, z/sqrt(K)
  in distributed mode (fedchain publishes every update, so peers do see it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from node.learning.spec import TrainingSpec


@dataclass(frozen=True)
class DpRound:
    """One round this node published a DP update in."""

    round: int
    noise_multiplier: float  # z of the deployment
    participants: int  # K: the round's committee or active participants
    distributed: bool

    @property
    def update_multiplier(self) -> float:
        if self.distributed:
            return self.noise_multiplier / math.sqrt(max(self.participants, 1))
        return self.noise_multiplier


def rdp_epsilon(multipliers: Sequence[float], delta: float) -> float:
    """epsilon at ``delta`` after one Gaussian mechanism (sample rate 1) per multiplier."""
    if not multipliers:
        return 0.0
    if min(multipliers) <= 0:
        return math.inf
    from opacus.accountants import RDPAccountant  # lazy: pulls in torch extras

    accountant = RDPAccountant()
    counts: dict[float, int] = {}
    for z in multipliers:
        counts[z] = counts.get(z, 0) + 1
    accountant.history = [(z, 1.0, n) for z, n in sorted(counts.items())]
    return float(accountant.get_epsilon(delta))


def epsilons(rounds: Sequence[DpRound], delta: float) -> tuple[float, float]:
    """(epsilon, epsilon_update) after ``rounds`` (see the module docstring)."""
    return (
        rdp_epsilon([r.noise_multiplier for r in rounds], delta),
        rdp_epsilon([r.update_multiplier for r in rounds], delta),
    )


def exceeds_budget(
    rounds: Sequence[DpRound], upcoming: DpRound, delta: float, budget: float
) -> bool:
    """Whether publishing ``upcoming`` would take the mode's epsilon past ``budget``
    (0: no budget)."""
    if budget <= 0:
        return False
    return epsilons([*rounds, upcoming], delta)[0] > budget


def multiplier_for(target_epsilon: float, delta: float, rounds: int) -> float:
    """The noise multiplier whose mode epsilon after ``rounds`` rounds is ``target_epsilon``
    (opacus' search; for choosing deployment settings)."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon,
            target_delta=delta,
            sample_rate=1.0,
            steps=rounds,
            accountant="rdp",
            epsilon_tolerance=0.005,
        )
    )


def dp_round(spec: TrainingSpec, r: int, participants: int) -> DpRound:
    return DpRound(r, spec.dp_noise_multiplier, participants, spec.dp_mode == "distributed")
