from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import needs_h36m
from poselift.engine.live.refine import RefineSettings, StreamingRefiner
from poselift.models.checkpoint import load_weights
from poselift.models.errors import WeightsError
from poselift.models.lifter import window_2d
from poselift.models.occlusion import occlude
from poselift.models.refiner import (Denoiser, RefinerSpec, alphas_cumprod, denoising_loss, refine,
                                     refine_sequence, sampling_times, stream_noise)


CONFIGS = Path(__file__).resolve().parents[1] / "assets" / "configs"


def lifter_stream(n: int = 40, seed: int = 0):
    """A plausible lifter output stream: poses (n, J, 3) mm, uncertainties (n, J) mm, 2D and confidence."""
    g = np.random.default_rng(seed)
    pose = np.cumsum(g.normal(0, 5, (n, 17, 3)), axis=0) + g.normal(0, 300, (1, 17, 3))
    pose -= pose[:, :1]
    sigma = g.uniform(20, 150, (n, 17))
    kp = g.normal(0, 0.1, (n, 17, 2))
    conf = g.uniform(0.3, 1.0, (n, 17))
    return pose, sigma, kp, conf


@pytest.fixture(scope="module")
def refiner(random_refiner):
    return load_weights(random_refiner, arch="diffusion_refiner")


def test_streaming_matches_the_batched_sequence(refiner):
    pose, sigma, kp, conf = lifter_stream()
    live = StreamingRefiner(refiner, RefineSettings(threshold_mm=60.0, steps=3, seed=5))
    streamed = [live(p, s, r) for p, s, r in zip(pose, sigma, window_2d(kp, conf))]
    batch, mask = refine_sequence(refiner, pose, sigma, window_2d(kp, conf).numpy(), stream_noise(refiner.spec, 1, 5), 60.0, 3)
    assert np.allclose(np.stack([r for r, _ in streamed]), batch, atol=1e-3)
    assert np.array_equal(np.stack([m for _, m in streamed]), mask)
    assert np.array_equal(mask, (sigma >= 60.0) & (np.arange(17) > 0))


def test_only_unsure_joints_move_and_the_threshold_decides(refiner):
    pose, sigma, kp, conf = lifter_stream()
    x2d = window_2d(kp, conf).numpy()
    noise = stream_noise(refiner.spec, 1, 0)
    out, mask = refine_sequence(refiner, pose, sigma, x2d, noise, 60.0)
    held = ~mask
    assert np.array_equal(out[held], pose[held].astype(np.float32))
    assert not np.allclose(out[mask], pose[mask], atol=0.5)
    assert (out[:, 0] == 0).all()  # the pelvis stays the origin
    none, none_mask = refine_sequence(refiner, pose, sigma, x2d, noise, 1e9)
    assert not none_mask.any() and np.allclose(none, pose)
    _, all_mask = refine_sequence(refiner, pose, sigma, x2d, noise, 0.0)
    assert all_mask[:, 1:].all() and not all_mask[:, 0].any()


def test_deterministic_for_a_seed_and_several_hypotheses(refiner):
    pose, sigma, kp, conf = lifter_stream()
    x2d = window_2d(kp, conf).numpy()
    a, _ = refine_sequence(refiner, pose, sigma, x2d, stream_noise(refiner.spec, 1, 3), 40.0)
    b, _ = refine_sequence(refiner, pose, sigma, x2d, stream_noise(refiner.spec, 1, 3), 40.0)
    c, _ = refine_sequence(refiner, pose, sigma, x2d, stream_noise(refiner.spec, 1, 4), 40.0)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    many, _ = refine_sequence(refiner, pose, sigma, x2d, stream_noise(refiner.spec, 5, 3), 40.0)
    assert np.isfinite(many).all() and not np.allclose(many, a)


def test_no_nan_reaches_the_output(refiner):
    pose, sigma, kp, conf = lifter_stream(12)
    kp[3:6, 4] = np.nan
    conf[3:6] = 0.0
    sigma[7] = np.inf
    live = StreamingRefiner(refiner, RefineSettings(threshold_mm=30.0))
    for p, s, r in zip(pose, sigma, window_2d(kp, conf)):
        out, mask = live(p, s, r)
        assert np.isfinite(out).all()
    # A frame the network cannot make finite comes back unrefined.
    broken = Denoiser(refiner.spec).eval()
    torch.nn.init.constant_(broken.out[1].bias, float("nan"))
    out, mask = StreamingRefiner(broken, RefineSettings(threshold_mm=0.0))(pose[0], sigma[0], window_2d(kp[0], conf[0]))
    assert np.allclose(out, pose[0]) and not mask.any()


def test_schedule_and_sampler_steps():
    for schedule in ("cosine", "linear"):
        abar = alphas_cumprod(RefinerSpec(schedule=schedule))
        assert (abar[1:] < abar[:-1]).all() and 0 < abar[-1] < 0.1 and abar[0] > 0.99
    assert sampling_times(RefinerSpec(), 1) == [99]
    assert sampling_times(RefinerSpec(), 4) == [99, 74, 50, 25]
    with pytest.raises(ValueError, match="between 1 and 100"):
        sampling_times(RefinerSpec(), 0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        RefinerSpec(schedule="quadratic")


def test_loss_trains_the_correction():
    torch.manual_seed(0)
    model = Denoiser(RefinerSpec(window=5, hidden=64, blocks=1))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    pose = torch.randn(3, 64, 5, 17, 3) * 100
    pose[..., 0, :] = 0
    target = pose[:, :, -1] + torch.tensor([30.0, -20.0, 10.0])  # a constant bias the refiner can learn
    target[..., 0, :] = 0
    unc, x2d = torch.full((3, 64, 5, 17), 80.0), torch.zeros(3, 64, 5, 18, 3)
    threshold = torch.zeros(64)
    first = denoising_loss(model, pose, unc, x2d, target, threshold)[0].item()
    for _ in range(150):
        loss, parts = denoising_loss(model, pose, unc, x2d, target, threshold)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["mpjpe_free"] < 0.3 * first and parts["free_fraction"] == pytest.approx(16 / 17)
    out, _ = refine(model.eval(), pose[2], unc[2], x2d[2], stream_noise(model.spec, 1, 0), 50.0, 2)
    assert (out - target[2]).norm(dim=-1)[:, 1:].mean() < 15.0


def test_occlusion_runs_are_seeded_and_spare_the_pelvis():
    kp = np.random.default_rng(0).normal(0, 0.1, (2000, 17, 2))
    conf = np.ones((2000, 17))
    a_kp, a_conf, mask = occlude(kp, conf, 0.1, np.random.default_rng(1))
    b_kp, _, _ = occlude(kp, conf, 0.1, np.random.default_rng(1))
    assert np.array_equal(a_kp, b_kp)
    assert 0.05 < mask[:, 1:].mean() < 0.15 and not mask[:, 0].any()
    assert np.array_equal(a_kp[~mask], kp[~mask]) and (a_conf[mask] < 1).all()
    assert (a_conf == 0).any() and ((a_conf > 0) & (a_conf < 1)).any()  # dropped and misplaced runs
    starts = mask[1:] & ~mask[:-1]
    assert mask.sum() / max(1, starts.sum()) >= 5  # runs, not single frames


def test_refiner_weights_are_checked(random_weights, random_refiner):
    with pytest.raises(WeightsError, match="is not a diffusion refiner checkpoint"):
        load_weights(random_weights, arch="diffusion_refiner")
    with pytest.raises(WeightsError, match="is not a lifter checkpoint"):
        load_weights(random_refiner)


@needs_h36m
def test_eval_scores_refined_and_occluded(s9, random_weights, random_refiner):
    from poselift.models.evaluate import evaluate
    lifter = load_weights(random_weights)
    refiner = load_weights(random_refiner, arch="diffusion_refiner")
    noise = stream_noise(refiner.spec, 1, 0)
    seqs = [s for s in s9 if s.take == "Walking 1"][:2]
    base = evaluate(lifter, seqs, "sh", occlusion=0.1)
    again = evaluate(lifter, seqs, "sh", occlusion=0.1)
    clean = evaluate(lifter, seqs, "sh")
    refined = evaluate(lifter, seqs, "sh", occlusion=0.1,
                       refiner=lambda p, s, x: refine_sequence(refiner, p, s, x, noise, 0.0))
    assert base["mean"]["p1"] == again["mean"]["p1"] != clean["mean"]["p1"]
    assert refined["refined"] and refined["mean"]["resampled_pct"] == pytest.approx(100.0)
    assert refined["mean"]["p1"] != base["mean"]["p1"] and np.isfinite(refined["mean"]["accel"])


def test_bench_times_the_refiner_beside_the_lifter(random_weights, refiner):
    from poselift.engine.live.bench import bench_refiner
    rows = bench_refiner(load_weights(random_weights), refiner, [RefineSettings(0.0, 1), RefineSettings(0.0, 4)],
                         steps=40)
    assert [r["stage"].split(" (")[0] for r in rows] == ["lifter step", "refine step", "refine step"]
    assert all(r["median_ms"] > 0 and r["runs"] == 32 for r in rows)
    assert rows[1]["x_lifter_step"] == pytest.approx(rows[1]["median_ms"] / rows[0]["median_ms"])


def test_training_configs_are_told_apart(tmp_path):
    from poselift.models.refiner_train import is_refiner_config
    assert is_refiner_config(CONFIGS / "refiner_w27.yaml")
    assert not is_refiner_config(CONFIGS / "lifter_tcn81.yaml")
    no_lifter_named = tmp_path / "refiner.yaml"
    no_lifter_named.write_text("variants: 1\nmodel: {window: 9}\n")
    assert is_refiner_config(no_lifter_named)
    assert not is_refiner_config(tmp_path / "missing.yaml")
