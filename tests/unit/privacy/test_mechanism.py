"""Clip-and-noise in exact fixed point; noised updates verify and aggregate identically."""

from __future__ import annotations

import math
import multiprocessing

import numpy as np
import pytest

from node.learning.spec import TrainingSpec
from node.privacy.bound import dp_norm_bound, dp_problems, model_size, update_norm_bound
from node.privacy.mechanism import add_noise, clip_fixed, noise_std, privatize
from node.update.fixedpoint import SCALE
from node.verify.checks import fixed_sum_of_squares

SHAPES = {"a.weight": (64, 32), "a.bias": (32,), "b.weight": (10, 32)}


def random_delta(seed: int, scale: float = 0.3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: np.rint(rng.normal(0, scale * SCALE, s)).astype(np.int32) for n, s in SHAPES.items()}


def norm(delta: dict[str, np.ndarray]) -> float:
    return math.sqrt(fixed_sum_of_squares(delta)) / SCALE


@pytest.mark.parametrize("clip", [0.01, 0.5, 3.0])
def test_clip_is_exact_and_keeps_direction(clip: float) -> None:
    delta = random_delta(1)
    out = clip_fixed(delta, clip)
    assert fixed_sum_of_squares(out) <= int(clip * SCALE) ** 2
    assert norm(out) == pytest.approx(clip, rel=1e-3)
    cos = sum(float(np.dot(out[n].ravel(), delta[n].ravel().astype(np.float64))) for n in out)
    assert cos / (norm(out) * norm(delta) * SCALE**2) > 0.999
    assert all(out[n].dtype == np.int32 for n in out)


def test_clip_leaves_a_small_update_unchanged() -> None:
    delta = random_delta(2, scale=0.001)
    out = clip_fixed(delta, 10.0)
    assert all(np.array_equal(out[n], delta[n]) for n in delta)


def test_noise_std_per_mode() -> None:
    local = TrainingSpec(dp_mode="local", dp_clip_norm=2.0, dp_noise_multiplier=1.5)
    dist = TrainingSpec(dp_mode="distributed", dp_clip_norm=2.0, dp_noise_multiplier=1.5)
    assert noise_std(local, 9) == 3.0
    assert noise_std(dist, 9) == pytest.approx(1.0)
    assert noise_std(TrainingSpec(), 9) == 0.0
    with pytest.raises(ValueError, match="participant"):
        noise_std(dist, 0)


def test_noise_has_the_requested_std_and_is_fresh_each_time() -> None:
    zero = {n: np.zeros(s, np.int32) for n, s in SHAPES.items()}
    a, b = add_noise(zero, 0.25), add_noise(zero, 0.25)
    flat = np.concatenate([a[n].ravel() for n in a]) / SCALE
    assert flat.std() == pytest.approx(0.25, rel=0.05)
    assert abs(flat.mean()) < 0.02
    assert not all(np.array_equal(a[n], b[n]) for n in a)  # OS-seeded, not reproducible


@pytest.mark.parametrize("mode", ["local", "distributed"])
def test_honest_noised_updates_stay_within_the_bound(mode: str) -> None:
    spec = TrainingSpec(dp_mode=mode, dp_clip_norm=0.5, dp_noise_multiplier=3.0)
    bound = update_norm_bound(spec, SHAPES, 20.0)
    assert bound == dp_norm_bound(spec, model_size(SHAPES))
    rng = np.random.default_rng(0)
    norms = [norm(privatize(random_delta(s), spec, 4, bound, rng)) for s in range(50)]
    assert max(norms) <= bound
    sigma = noise_std(spec, 4)
    d = model_size(SHAPES)
    # the noise dominates: norm close to sigma * sqrt(d), as the bound assumes
    assert np.mean(norms) == pytest.approx(math.sqrt(0.5**2 + sigma**2 * d), rel=0.05)


def test_bound_without_dp_is_the_configured_one() -> None:
    assert update_norm_bound(TrainingSpec(), SHAPES, 7.0) == 7.0


def test_too_much_noise_is_refused_before_it_is_rejected() -> None:
    assert dp_problems(TrainingSpec(dp_mode="local", dp_clip_norm=1.0, dp_noise_multiplier=50))
    assert not dp_problems(TrainingSpec(dp_mode="local", dp_clip_norm=0.1, dp_noise_multiplier=5))


def test_an_update_beyond_the_bound_is_redrawn_never_published() -> None:
    spec = TrainingSpec(dp_mode="local", dp_clip_norm=0.5, dp_noise_multiplier=1.0)
    with pytest.raises(ValueError, match="never fit"):
        privatize(random_delta(3), spec, 1, bound=0.5)  # noise alone exceeds 0.5


# --- verification and aggregation on two independent nodes -----------------------------

SPEC = TrainingSpec(dp_mode="distributed", dp_clip_norm=0.2, dp_noise_multiplier=2.0)
AUTHORS = [f"0x{i:040x}" for i in range(1, 6)]


def noised_blobs() -> tuple[bytes, list[tuple[str, bytes]]]:
    from node.learning.local import compute_delta, genesis_params
    from node.learning.partition import iid_partition, train_test_split
    from node.learning.tasks import get_task
    from node.update.codec import UpdateHeader, encode_model, encode_update

    task = get_task("digits-mlp")
    train, _ = train_test_split(task.load_all(), 0)
    base = genesis_params(task)
    bound = update_norm_bound(SPEC, {n: v.shape for n, v in base.items()}, 20.0)
    blobs = []
    for i, author in enumerate(AUTHORS):
        part = iid_partition(train, i, 12, 0)
        delta = compute_delta(task, base, part, epochs=1, lr=0.1, batch_size=32, seed=i)
        noised = privatize(delta, SPEC, len(AUTHORS), bound)
        header = UpdateHeader("1:0xc", 1, author, "bafybase", len(part))
        blobs.append((author, encode_update(header, noised)))
    return encode_model(base), blobs


RULES = ("fedavg", "median", "nnm+trimmed_mean")


def aggregate_as_a_node(
    base_blob: bytes, blobs: list[tuple[str, bytes]], threads: int
) -> list[str]:
    """What one node does with the blobs: verify each, aggregate with each rule, hash the
    new model (and the contribution scores)."""
    import torch

    from node.aggregate.registry import build_rule
    from node.aggregate.step import round_step
    from node.exchange import Verified
    from node.round import contributions
    from node.store.cid import compute_cid
    from node.update.codec import decode_model, encode_model
    from node.verify.checks import Expectation, verify_update

    torch.set_num_threads(threads)
    base = decode_model(base_blob)
    shapes = {n: tuple(v.shape) for n, v in base.items()}
    updates = []
    for author, blob in sorted(blobs):
        expect = Expectation("1:0xc", 1, author, "bafybase", shapes, 10_000,
                             update_norm_bound(SPEC, shapes, 20.0))  # fmt: skip
        header, delta = verify_update(blob, expect)
        updates.append(Verified(author, compute_cid(blob), header, delta))
    out = []
    for rule_spec in RULES:
        step = round_step(build_rule(rule_spec, 1), base, contributions(updates), cap=10_000)
        new, scores = step.model, step.rewards
        assert any(not np.array_equal(new[n], base[n]) for n in base)  # it moved
        out.append(compute_cid(encode_model(new)) + str(sorted(scores.items())))
    return out


def test_noised_updates_verify_and_aggregate_bit_identically() -> None:
    base_blob, blobs = noised_blobs()
    here = aggregate_as_a_node(base_blob, blobs, threads=1)
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:  # a fresh interpreter, another thread count, another order
        there = pool.apply(aggregate_as_a_node, (base_blob, list(reversed(blobs)), 2))
    assert here == there
    assert len(set(here)) == len(RULES)


def test_a_diverged_update_is_clipped_too() -> None:
    huge = {"w": np.full((4, 4), np.iinfo(np.int32).max, np.int32)}  # beyond ±256: unverifiable
    out = clip_fixed(huge, 1.0)
    assert fixed_sum_of_squares(out) <= SCALE**2
    assert norm(out) == pytest.approx(1.0, rel=1e-4)
