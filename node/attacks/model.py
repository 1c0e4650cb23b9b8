"""The attacks themselves. Attacker-side math may use floats: its output is just input."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from node.aggregate.vectors import Layout, flatten, flatten_one, unflatten
from node.attacks.base import Attack, AttackContext, register
from node.update.fixedpoint import FixedParams

NUM_CLASSES = 10
ALIE_GRID = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
IPM_GRID = (0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
MAX_ABS = (1 << 24) - 1  # verification rejects larger elements


def _honest(ctx: AttackContext) -> tuple[np.ndarray, Layout]:
    x, layout = flatten(ctx.honest)
    return x.astype(np.float64), layout


def _fit(v: np.ndarray, bound: int | None) -> np.ndarray:
    """Round to fixed point, staying inside the verification bounds (so it is accepted)."""
    v = np.clip(v, -MAX_ABS, MAX_ABS)
    if bound is not None:
        norm = float(np.linalg.norm(v))
        if norm > 0.999 * bound:
            v = v * (0.999 * bound / norm)
    return np.rint(v).astype(np.int64)


def _out(ctx: AttackContext, vectors: Sequence[np.ndarray], layout: Layout) -> list[FixedParams]:
    return [unflatten(_fit(v, ctx.norm_bound), layout) for v in vectors]


def _same(ctx: AttackContext, v: np.ndarray, layout: Layout) -> list[FixedParams]:
    return _out(ctx, [v] * ctx.f, layout)


def spread_radius(x: np.ndarray) -> float:
    """A quarter of the median pairwise distance of the honest rows."""
    gram = x @ x.T
    diag = np.diag(gram)
    d2 = (diag[:, None] + diag[None, :] - 2 * gram)[np.triu_indices(x.shape[0], 1)]
    return 0.25 * float(np.sqrt(max(float(np.median(d2)), 0.0))) if d2.size else 1.0


def _spread(ctx: AttackContext, v: np.ndarray, rho: float) -> list[np.ndarray]:
    """f copies of v, each moved by its own random vector of norm ``rho``; at
    ``spread_radius`` no two are near-duplicates (rules.near_duplicate_groups), so a
    ``dedup`` step keeps them all."""
    out = []
    for _ in range(ctx.f):
        u = np.asarray(ctx.rng.normal(0.0, 1.0, v.shape))
        out.append(v + u * (rho / (float(np.linalg.norm(u)) or 1.0)))
    return out


def _damage_towards(ctx: AttackContext, byz: list[FixedParams], layout: Layout, mu: np.ndarray):
    """How far the rule's output is pushed from the honest mean (higher = worse)."""
    assert ctx.aggregate is not None
    agg = flatten_one(ctx.aggregate(byz), layout).astype(np.float64)
    # progress along the honest mean lost, plus distance from it
    return float(np.dot(mu - agg, mu)) / max(float(np.dot(mu, mu)), 1.0)


def _tuned(
    ctx: AttackContext, candidates: Sequence[np.ndarray], layout: Layout, x: np.ndarray
) -> list[FixedParams]:
    """The colluders' choice doing most damage against the rule in use (first on ties):
    each candidate vector sent by all f as identical copies, or spread apart (which
    survives a ``dedup`` step but loses the copies' coincidence)."""
    options = [[v] * ctx.f for v in candidates]
    if ctx.f > 1:
        rho = spread_radius(x)
        options += [_spread(ctx, v, rho) for v in candidates]
    return _most_damaging(ctx, options, layout, x.mean(axis=0))


def _most_damaging(
    ctx: AttackContext, options: Sequence[Sequence[np.ndarray]], layout: Layout, mu: np.ndarray
) -> list[FixedParams]:
    if ctx.aggregate is None or len(options) == 1:
        return _out(ctx, options[0], layout)
    best, best_damage = None, -np.inf
    for vectors in options:
        byz = _out(ctx, vectors, layout)
        damage = _damage_towards(ctx, byz, layout, mu)
        if damage > best_damage:
            best, best_damage = byz, damage
    assert best is not None
    return best


def sign_flip(ctx: AttackContext) -> list[FixedParams]:
    """Each Byzantine sends minus the honest mean."""
    x, layout = _honest(ctx)
    return _tuned(ctx, [-x.mean(axis=0)], layout, x)


def gaussian(ctx: AttackContext) -> list[FixedParams]:
    """Pure noise, per-coordinate std = 10 x the honest updates' (clipped to the bound)."""
    x, layout = _honest(ctx)
    sigma = float(ctx.options.get("sigma_factor", 10.0)) * float(x.std())
    noise = [np.asarray(ctx.rng.normal(0.0, sigma, x.shape[1])) for _ in range(ctx.f)]
    return _out(ctx, noise, layout)


def alie_default_z(n: int, f: int) -> float:
    """z_max of Baruch et al. 2019: Phi^-1((n - s) / n), s = floor(n/2 + 1) - f."""
    s = n // 2 + 1 - f
    return NormalDist().inv_cdf(min(max((n - s) / n, 0.5), 0.999))


def alie(ctx: AttackContext) -> list[FixedParams]:
    """A little is enough: mu - z sigma (coordinate-wise), z tuned against the rule."""
    x, layout = _honest(ctx)
    mu, sigma = x.mean(axis=0), x.std(axis=0)
    zs = (alie_default_z(len(ctx.honest) + ctx.f, ctx.f), *ALIE_GRID)
    return _tuned(ctx, [mu - z * sigma for z in zs], layout, x)


def ipm(ctx: AttackContext) -> list[FixedParams]:
    """Inner product manipulation: -eps * mu, eps tuned against the rule."""
    x, layout = _honest(ctx)
    mu = x.mean(axis=0)
    return _tuned(ctx, [-eps * mu for eps in IPM_GRID], layout, x)


def mimic(ctx: AttackContext) -> list[FixedParams]:
    """Every Byzantine copies the honest update farthest from the honest mean."""
    x, layout = _honest(ctx)
    far = int(np.argmax(((x - x.mean(axis=0)) ** 2).sum(axis=1)))
    return _tuned(ctx, [x[far]], layout, x)


def freerider_zero(ctx: AttackContext) -> list[FixedParams]:
    """Trains nothing: the zero update."""
    x, layout = _honest(ctx)
    return _same(ctx, np.zeros(x.shape[1]), layout)


def freerider_stale(ctx: AttackContext) -> list[FixedParams]:
    """Replays the previous round's global delta (public) with small noise."""
    x, layout = _honest(ctx)
    prev = (
        np.zeros(x.shape[1])
        if ctx.previous is None
        else flatten_one(ctx.previous, layout).astype(np.float64)
    )
    scale = float(ctx.options.get("noise", 0.1)) * float(prev.std() or 1.0)
    return _out(ctx, [prev + ctx.rng.normal(0.0, scale, prev.shape) for _ in range(ctx.f)], layout)


def freerider_copy(ctx: AttackContext) -> list[FixedParams]:
    """Copies another participant's update it can see, plus noise (std 0.25 x its own).

    Under commit-reveal only earlier rounds' updates are visible (``ctx.visible``); with
    no visible set the attacker is omniscient and copies this round's honest updates.
    """
    x, layout = _honest(ctx)
    pool = ctx.visible if ctx.visible else ctx.honest
    src, _ = flatten(pool)
    picks = ctx.rng.integers(0, src.shape[0], size=ctx.f)
    rel = float(ctx.options.get("noise", 0.25))
    out = []
    for k in picks:
        v = src[int(k)].astype(np.float64)
        out.append(v + ctx.rng.normal(0.0, rel * float(v.std() or 1.0), v.shape))
    return _out(ctx, out, layout)


def near_tie(ctx: AttackContext) -> list[FixedParams]:
    """Near-tie splitter: sit on the midpoint of the two closest honest updates (as
    copies 1 unit apart, or spread apart if that hurts the rule in use more).

    Their Krum/NNM scores then differ by a few units, so float implementations on two
    machines can rank them differently and split the honest vote; exact integer scores
    with index tie-breaks cannot be split.
    """
    x, layout = _honest(ctx)
    n = x.shape[0]
    if n < 2:
        return freerider_zero(ctx)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2) if x.shape[1] < 20_000 else None
    if d2 is None:
        gram = x @ x.T
        diag = np.diag(gram)
        d2 = diag[:, None] + diag[None, :] - 2 * gram
    d2 = d2 + np.diag(np.full(n, np.inf))
    a, b = np.unravel_index(int(np.argmin(d2)), d2.shape)
    mid = (x[a] + x[b]) / 2
    ties = []
    for k in range(ctx.f):
        v = mid.copy()
        v[k % v.shape[0]] += 1 if k % 2 else -1
        ties.append(v)
    options = [ties, _spread(ctx, mid, spread_radius(x))] if ctx.f > 1 else [ties]
    return _most_damaging(ctx, options, layout, x.mean(axis=0))


def boost(ctx: AttackContext) -> list[FixedParams]:
    """Model replacement (Bagdasaryan et al. 2020): minus the honest mean, boosted to four
    times the verification norm bound. Verification rejects it (``norm_bound``) and every
    honest node lists the author for slashing, so this exercises the slashing path."""
    x, layout = _honest(ctx)
    v = -x.mean(axis=0)
    bound = ctx.norm_bound if ctx.norm_bound is not None else MAX_ABS
    norm = float(np.linalg.norm(v)) or 1.0
    boosted = np.clip(np.rint(v * (4.0 * bound / norm)), -MAX_ABS, MAX_ABS).astype(np.int64)
    return [unflatten(boosted, layout) for _ in range(ctx.f)]


def flip_labels(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Label flip: y -> C - 1 - y (a new array)."""
    return (num_classes - 1 - np.asarray(labels)).astype(np.asarray(labels).dtype)


def _withhold(ctx: AttackContext) -> list[FixedParams]:
    return []


for _attack in (
    Attack("sign_flip", "model", sign_flip, doc=sign_flip.__doc__ or "", omniscient=True),
    Attack("gaussian", "model", gaussian, doc=gaussian.__doc__ or "", omniscient=True),
    Attack("alie", "model", alie, doc=alie.__doc__ or "", omniscient=True),
    Attack("ipm", "model", ipm, doc=ipm.__doc__ or "", omniscient=True),
    Attack("mimic", "model", mimic, doc=mimic.__doc__ or "", omniscient=True),
    Attack("freerider_zero", "model", freerider_zero, doc=freerider_zero.__doc__ or ""),
    Attack("freerider_stale", "model", freerider_stale, doc=freerider_stale.__doc__ or ""),
    Attack("freerider_copy", "model", freerider_copy, doc=freerider_copy.__doc__ or ""),
    Attack("near_tie", "model", near_tie, doc=near_tie.__doc__ or "", omniscient=True),
    Attack("boost", "invalid", boost, doc=boost.__doc__ or ""),
    Attack("label_flip", "data", labels=flip_labels, doc="Train on labels y -> 9 - y."),
    Attack("withhold", "protocol", _withhold, doc="Commit, never serve the blob."),
):
    register(_attack)


def craft(name: str, ctx: AttackContext) -> list[FixedParams]:
    """Byzantine deltas of a model-side (or withholding) attack by name."""
    from node.attacks.base import get_attack

    attack = get_attack(name)
    if attack.craft is None:
        raise ValueError(f"attack {name!r} is {attack.kind}-side; it has no crafted deltas")
    return attack.craft(ctx)


__all__ = ["craft", "flip_labels"]
