"""Attacks: shapes, bounds, determinism, no mutation, and the ones with a known answer."""

import numpy as np
import pytest

from node.aggregate import build_rule
from node.attacks import AttackContext, attack_names, flip_labels, get_attack
from node.attacks.model import IPM_GRID, alie_default_z
from node.errors import ConfigError, UpdateRejected
from node.update.fixedpoint import SCALE
from node.verify.checks import check_norm


def _honest(seed: int = 0, n: int = 6) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 2000, 30)
    return [
        {
            "w": np.rint(signal[:24] + rng.normal(0, 500, 24)).astype(np.int32).reshape(4, 6),
            "b": np.rint(signal[24:] + rng.normal(0, 500, 6)).astype(np.int32),
        }
        for _ in range(n)
    ]


def _ctx(f: int = 3, seed: int = 0, **kw) -> AttackContext:
    return AttackContext(honest=_honest(), f=f, rng=np.random.default_rng(seed), **kw)


MODEL_ATTACKS = [a for a in attack_names() if get_attack(a).kind == "model"]


def test_every_required_attack_is_registered() -> None:
    want = {"sign_flip", "gaussian", "alie", "ipm", "label_flip", "mimic", "freerider_zero",
            "freerider_stale", "freerider_copy", "withhold", "near_tie"}  # fmt: skip
    assert want <= set(attack_names())
    assert get_attack("label_flip").kind == "data" and get_attack("withhold").kind == "protocol"
    with pytest.raises(ConfigError):
        get_attack("nope")


@pytest.mark.parametrize("name", MODEL_ATTACKS)
def test_model_attacks_shape_bound_determinism_and_no_mutation(name: str) -> None:
    honest = _honest()
    copies = [{k: v.copy() for k, v in d.items()} for d in honest]
    bound = 5000
    rule = build_rule("trimmed_mean", 3)

    def aggregate(byz):
        return rule([*byz, *honest], [1] * (len(byz) + len(honest))).delta

    def run():
        ctx = AttackContext(honest=honest, f=3, rng=np.random.default_rng(1), aggregate=aggregate,
                            previous=honest[0], norm_bound=bound)  # fmt: skip
        return get_attack(name).craft(ctx)

    out = run()
    assert len(out) == 3
    for b in out:
        assert set(b) == {"w", "b"} and b["w"].shape == (4, 6) and b["w"].dtype == np.int32
        norm = np.sqrt(sum(float((v.astype(np.int64) ** 2).sum()) for v in b.values()))
        assert norm <= bound
    again = run()
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(out, again, strict=True) for k in a)
    for d, c in zip(honest, copies, strict=True):
        assert all(np.array_equal(d[k], c[k]) for k in d)


def test_boost_is_rejected_by_verification_and_deterministic() -> None:
    bound = 5000
    out = get_attack("boost").craft(_ctx(f=2, norm_bound=bound))
    again = get_attack("boost").craft(_ctx(f=2, norm_bound=bound))
    assert len(out) == 2 and get_attack("boost").kind == "invalid"
    for b, c in zip(out, again, strict=True):
        assert all(np.array_equal(b[k], c[k]) for k in b)
        with pytest.raises(UpdateRejected) as caught:
            check_norm(b, bound / SCALE)
        assert caught.value.reason == "norm_bound"
    mean_b = np.mean([h["b"].astype(float) for h in _honest()], axis=0)
    assert float(np.dot(out[0]["b"], mean_b)) < 0  # pushes against the honest direction


def test_sign_flip_is_minus_the_honest_mean() -> None:
    honest = _honest()
    mean = np.mean([h["b"].astype(float) for h in honest], axis=0)
    out = get_attack("sign_flip").craft(_ctx(f=2))
    assert np.array_equal(out[0]["b"], np.rint(-mean).astype(np.int32))


def test_ipm_scale_is_tuned_against_the_rule() -> None:
    honest = _honest()
    rule = build_rule("mean", 0)
    ctx = _ctx(f=3, aggregate=lambda byz: rule([*byz, *honest], [1] * 9).delta)
    out = get_attack("ipm").craft(ctx)
    mean = np.mean([h["b"].astype(float) for h in honest], axis=0)
    eps = -out[0]["b"] / mean
    assert np.allclose(eps, max(IPM_GRID), rtol=0.01)  # against the mean: largest epsilon


def test_alie_z_and_free_riders() -> None:
    assert 0.0 < alie_default_z(13, 3) < 1.0
    zero = get_attack("freerider_zero").craft(_ctx(f=2))
    assert all(not v.any() for b in zero for v in b.values())
    stale = get_attack("freerider_stale").craft(_ctx(f=1, previous=_honest(seed=9)[0]))
    assert np.corrcoef(stale[0]["w"].ravel(), _honest(seed=9)[0]["w"].ravel())[0, 1] > 0.9
    assert get_attack("withhold").craft(_ctx()) == []


def test_near_tie_sits_between_the_two_closest_honest_updates() -> None:
    out = get_attack("near_tie").craft(_ctx(f=2))
    honest = _honest()
    flat = [np.concatenate([h["b"], h["w"].ravel()]).astype(float) for h in honest]
    b = np.concatenate([out[0]["b"], out[0]["w"].ravel()]).astype(float)
    dists = sorted(np.linalg.norm(b - h) for h in flat)
    assert abs(dists[0] - dists[1]) < 3


def test_label_flip() -> None:
    labels = np.array([0, 1, 9, 4], dtype=np.int64)
    assert flip_labels(labels).tolist() == [9, 8, 0, 5]
    assert labels.tolist() == [0, 1, 9, 4]


def test_colluders_spread_apart_against_dedup_and_copy_otherwise() -> None:
    from node.aggregate.rules import near_duplicate_groups, pairwise_sqdists

    honest = _honest(n=8)

    def crafted(spec: str) -> np.ndarray:
        rule = build_rule(spec, 3)
        ctx = _ctx(f=3, aggregate=lambda byz: rule([*byz, *honest], [1] * 11).delta)
        ctx = AttackContext(**{**ctx.__dict__, "honest": honest})
        out = get_attack("sign_flip").craft(ctx)
        return np.array([np.concatenate([o["b"], o["w"].ravel()]) for o in out])

    flat = np.array([np.concatenate([h["b"], h["w"].ravel()]) for h in honest])
    spread = np.vstack([crafted("dedup+geometric_median"), flat]).astype(np.int32)
    copies = np.vstack([crafted("geometric_median"), flat]).astype(np.int32)
    assert all(len(g) == 1 for g in near_duplicate_groups(pairwise_sqdists(spread)))
    assert near_duplicate_groups(pairwise_sqdists(copies))[0] == [0, 1, 2]
