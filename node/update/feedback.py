"""Error feedback for compressed updates: what compression left out is sent later.

Round r: ``corrected = delta + residual``; the node sends ``sent = compress(corrected)``
and keeps ``residual' = corrected - sent`` for round r + 1, so ``sent + residual'`` is
exactly ``corrected`` and no part of a trained delta is lost, only delayed.

The residual lives in the node's data directory (``residual.npz``) with the round it was
made for and the one it was made from: a node that restarts and trains round r again
starts from the residual it had before round r, not from the one round r produced.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.update import sparse
from node.update.fixedpoint import SCALE, FixedParams, saturate_int32

FILE_NAME = "residual.npz"


def correct(delta: Mapping[str, np.ndarray], residual: Mapping[str, np.ndarray]) -> FixedParams:
    """delta + residual, saturated to int32 (a missing residual tensor counts as zeros)."""
    return {
        n: saturate_int32(delta[n].astype(np.int64) + residual[n])
        if n in residual and residual[n].shape == delta[n].shape
        else delta[n].astype(np.int32)
        for n in sorted(delta)
    }


def step(
    delta: Mapping[str, np.ndarray],
    residual: Mapping[str, np.ndarray],
    permille: int,
    norm_limit: int | None = None,
) -> tuple[FixedParams, FixedParams]:
    """(sent, new residual) for one round; ``sent + new residual == delta + residual``
    exactly (before int32 saturation of the sum)."""
    corrected = correct(delta, residual)
    sent = sparse.compress(corrected, permille, norm_limit)
    left = {n: (corrected[n].astype(np.int64) - sent[n]).astype(np.int32) for n in corrected}
    return sent, left


@dataclass(frozen=True)
class Residual:
    """The residual made for ``round`` (its input: ``before``; its output: ``after``)."""

    deployment: str
    round: int
    before: FixedParams
    after: FixedParams


def residual_for(saved: Residual | None, deployment: str, r: int) -> FixedParams:
    """The residual to add to round ``r``'s delta (empty: none yet, or another deployment)."""
    if saved is None or saved.deployment != deployment or saved.round > r:
        return {}
    return dict(saved.before) if saved.round == r else dict(saved.after)


def save(data_dir: Path, saved: Residual) -> None:
    """Write the residual file atomically."""
    path = Path(data_dir) / FILE_NAME
    tmp = path.with_name(FILE_NAME + ".tmp")
    arrays = {f"before/{n}": v for n, v in saved.before.items()}
    arrays |= {f"after/{n}": v for n, v in saved.after.items()}
    with open(tmp, "wb") as out:
        np.savez(
            out,
            __deployment=np.array(saved.deployment),
            __round=np.array(saved.round),
            **arrays,  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        )
    os.replace(tmp, path)


def load(data_dir: Path) -> Residual | None:
    """The saved residual, None when there is none or it cannot be read (a fresh start:
    error feedback then only loses what the last round left out)."""
    try:
        with np.load(Path(data_dir) / FILE_NAME, allow_pickle=False) as data:
            parts: dict[str, FixedParams] = {"before": {}, "after": {}}
            for key in data.files:
                side, _, name = key.partition("/")
                if side in parts:
                    parts[side][name] = data[key].astype(np.int32)
            return Residual(
                str(data["__deployment"]), int(data["__round"]), parts["before"], parts["after"]
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def outgoing(
    data_dir: Path,
    deployment: str,
    r: int,
    delta: Mapping[str, np.ndarray],
    codec: str,
    norm_bound: float | None,
) -> FixedParams:
    """The delta a node sends in round ``r`` under ``codec``: ``delta`` itself for the dense
    codec; else the compressed delta plus the kept residual (saved before it returns, so
    the residual is on disk before the update can be committed). ``norm_bound``: the
    verifier's bound (model units), which the compressed delta never exceeds (None: no
    limit, for a simulated attacker whose crafted delta is meant to be what it is)."""
    permille = sparse.permille_of(codec)
    if permille is None:
        return dict(delta)
    residual = residual_for(load(data_dir), deployment, r)
    limit = None if norm_bound is None else int(norm_bound * SCALE)
    sent, left = step(delta, residual, permille, limit)
    save(data_dir, Residual(deployment, r, residual, left))
    return sent
