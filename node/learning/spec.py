"""How a deployment trains: the local algorithm and differential privacy, fixed for every node.

The spec lives in the deployment file next to the task and the rule, so every node of a
deployment trains and verifies with the same settings (e.g. the DP clip norm bounds every
update's norm).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from node.staleness import staleness_problem
from node.update.names import CODEC, codec_problem

ALGORITHMS = ("fedavg", "fedprox", "fednova")
DP_MODES = ("off", "local", "distributed")


@dataclass(frozen=True)
class TrainingSpec:
    """Deployment-wide training settings.

    algorithm: ``fedavg`` (plain local SGD), ``fedprox`` (local SGD plus the proximal term
        ``prox_mu / 2 * ||w - w_base||^2``) or ``fednova`` (updates normalised by each
        author's local step count, carried in the update header).
    dp_mode: ``off``; ``local`` (each node clips and adds noise of std
        ``dp_noise_multiplier * dp_clip_norm``); ``distributed`` (each of the K round
        participants adds ``1/sqrt(K)`` of that, so the aggregate carries the full noise).
    dp_clip_norm: L2 bound every update is clipped to before noise (model units).
    dp_noise_multiplier: noise std as a multiple of the clip norm.
    dp_delta: the delta of the reported (epsilon, delta) guarantee.
    update_codec: how updates travel (``node.update.codec``): ``fxp32-q16`` (dense) or
        ``topk-int8-p<P>`` (compressed with error feedback); a node refuses any other.
    staleness: 0 (updates trained on the round's base) or 1 (overlapped rounds: trained on
        the previous round's base while that round finishes; node/staleness.py).
    """

    algorithm: str = "fedavg"
    prox_mu: float = 0.0
    dp_mode: str = "off"
    dp_clip_norm: float = 0.0
    dp_noise_multiplier: float = 0.0
    dp_delta: float = 1e-5
    update_codec: str = CODEC
    staleness: int = 0

    def problems(self) -> list[str]:
        """What is wrong with these settings, one message each (empty when valid)."""
        out = []
        if self.algorithm not in ALGORITHMS:
            out.append(f"training.algorithm must be one of {', '.join(ALGORITHMS)}")
        if self.prox_mu < 0:
            out.append("training.prox_mu must be >= 0")
        if self.dp_mode not in DP_MODES:
            out.append(f"training.dp_mode must be one of {', '.join(DP_MODES)}")
        if self.dp_mode != "off":
            if self.dp_clip_norm <= 0:
                out.append("training.dp_clip_norm must be > 0 when DP is on")
            if self.dp_noise_multiplier < 0:
                out.append("training.dp_noise_multiplier must be >= 0")
            if not 0 < self.dp_delta < 1:
                out.append("training.dp_delta must be in (0, 1)")
        codec = codec_problem(self.update_codec)
        if codec:
            out.append(f"training.update_codec: {codec}")
        stale = staleness_problem(self.staleness)
        if stale:
            out.append(f"training.{stale}")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TrainingSpec:
        """Read the ``training`` section of a deployment file (missing: all defaults)."""
        if not data:
            return cls()
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        return cls(
            algorithm=str(data.get("algorithm", "fedavg")),
            prox_mu=float(data.get("prox_mu", 0.0)),
            dp_mode=str(data.get("dp_mode", "off")),
            dp_clip_norm=float(data.get("dp_clip_norm", 0.0)),
            dp_noise_multiplier=float(data.get("dp_noise_multiplier", 0.0)),
            dp_delta=float(data.get("dp_delta", 1e-5)),
            update_codec=str(data.get("update_codec", CODEC)),
            staleness=int(data.get("staleness", 0)),
        )
