"""World mocap and virtual cameras: Bandai clips as H36M-17, cameras that frame the person, windows
whose 3D is the rigidly moved mocap, MediaPipe-shaped errors, and the evaluation suites."""
import math

import numpy as np
import pytest
import torch

from conftest import BANDAI, DATA, needs_bandai, needs_h36m
from poselift.models.errors import DataError
from poselift.models.motion import H36M_BONE_MM, bone_lengths, torso_forward
from poselift.models.skeletons import H36M
from poselift.models.virtual_cameras import CameraRanges, draw_cameras, film, framing


@pytest.fixture(scope="module")
def bandai1():
    from poselift.models.bandai import load_bandai
    return load_bandai(1, BANDAI)


@needs_bandai
def test_bandai_clips_are_upright_h36m_bodies_facing_forward(bandai1):
    assert len(bandai1) == 174 and sum(len(c) for c in bandai1) == 31914
    clip = next(c for c in bandai1 if c.action == "walk")
    assert clip.fps == 30 and clip.world.shape[1:] == (17, 3)
    assert np.allclose(bone_lengths(clip.world), H36M_BONE_MM, atol=0.5)
    h = H36M.index
    z = clip.world[..., 2]
    assert (z[:, h("head_top")] > z[:, h("pelvis")]).all() and (z[:, h("pelvis")] > z[:, h("left_ankle")]).all()
    # The placed nose is in front of the thorax; walking goes the way the torso faces.
    nose = clip.world[:, h("neck_nose")] - clip.world[:, h("thorax")]
    assert ((nose * torso_forward(clip.world)).sum(-1) > 30).mean() > 0.95
    travel = clip.world[-1, 0, :2] - clip.world[0, 0, :2]
    assert travel @ torso_forward(clip.world[0])[:2] > 0.5 * np.linalg.norm(travel)


def test_bandai_missing_or_malformed_gets_one_sentence(tmp_path):
    from poselift.models.bandai import load_bandai
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist"):
        load_bandai(1, tmp_path / "nope")
    with pytest.raises(DataError, match="bandai2.npz is missing"):
        load_bandai(2, tmp_path)
    np.savez(tmp_path / "bandai1.npz", x=np.zeros(3))
    with pytest.raises(DataError, match="bandai1.npz is not the expected npz"):
        load_bandai(1, tmp_path)


@needs_h36m
def test_h36m_proportions_and_nose_offset_match_a_refit():
    from poselift.models.h36m import TRAIN_SUBJECTS, load_world_clips
    from poselift.models.motion import NOSE_ALONG, NOSE_FORWARD, fit_nose_offset
    world = np.concatenate([c.world for c in load_world_clips(TRAIN_SUBJECTS, DATA)]).astype(np.float64)
    assert np.abs(bone_lengths(world) - H36M_BONE_MM).max() < 0.1
    along, forward = fit_nose_offset(world)
    assert abs(along - NOSE_ALONG) < 1e-3 and abs(forward - NOSE_FORWARD) < 1e-3


def standing(n: int = 1) -> torch.Tensor:
    """A person standing at (1 m, 2 m) in the world, Z up: (n, 1, 17, 3)."""
    pose = torch.zeros(17, 3)
    h = H36M.index
    for name, z in (("pelvis", 900), ("spine", 1150), ("thorax", 1400), ("neck_nose", 1500), ("head_top", 1650)):
        pose[h(name), 2] = z
    for side, x in (("left", -150), ("right", 150)):
        for name, z in (("hip", 900), ("knee", 480), ("ankle", 80), ("shoulder", 1400), ("elbow", 1120), ("wrist", 880)):
            pose[h(f"{side}_{name}")] = torch.tensor([x, 0, z])
    return (pose + torch.tensor([1000.0, 2000.0, 0.0])).expand(n, 1, 17, 3)


def test_virtual_cameras_frame_the_person_upright():
    world = standing(500)
    ranges = CameraRanges(roll_deg=0.0, offset=0.5, fill=(0.3, 0.8))
    cams = draw_cameras(*framing(world), torch.Generator().manual_seed(0), ranges)
    assert torch.allclose(cams.R @ cams.R.transpose(1, 2), torch.eye(3).expand(500, 3, 3), atol=1e-5)
    cam, xy, inside = film(world, cams)
    h = H36M.index
    # The pelvis lands within the drawn offset of the centre, in front of the camera, the head above the feet.
    assert (xy[:, 0, 0].abs() <= 0.5 * cams.half + 1e-5).all() and (cam[..., 2] > 0).all()
    assert (xy[:, 0, h("head_top"), 1] < xy[:, 0, h("left_ankle"), 1]).all()
    assert inside.float().mean() > 0.95
    elevation = torch.rad2deg(torch.asin((cams.centre[:, 2] - 900) / (cams.centre - world[:, 0, 0]).norm(dim=-1)))
    assert -15.1 < elevation.min() < 0 < 45 < elevation.max() < 60.1
    fov = 2 * torch.rad2deg(torch.atan(cams.half.amax(-1)))
    assert 40 <= fov.min() and fov.max() <= 100
    # Rigid: the camera-frame skeleton has the world skeleton's bone lengths.
    assert np.allclose(bone_lengths(cam[:, 0].numpy()), bone_lengths(world[:, 0].numpy()), atol=1e-2)


def test_close_cameras_cut_joints_off():
    world = standing(300)
    cams = draw_cameras(*framing(world), torch.Generator().manual_seed(1), CameraRanges(fill=(1.3, 1.6)))
    _, _, inside = film(world, cams)
    assert 0.05 < 1 - inside.float().mean() < 0.7


@needs_h36m
@needs_bandai
def test_virtual_windows_keep_the_mocap_rigid(s9, bandai1):
    from poselift.models.windows import Augment, WindowSampler
    sampler = WindowSampler(s9[:2], frames=27, clips={"bandai": bandai1})
    aug = Augment(detections=0, flip=0, hip_spread=0, virtual=1.0, native_fps=1.0)
    kp, conf, target = sampler.sample(64, torch.Generator().manual_seed(0), aug)
    assert kp.shape == (64, 27, 17, 2) and torch.isfinite(kp).all() and target.shape == (64, 1, 17, 3)
    assert np.allclose(bone_lengths(target[:, 0].numpy()), H36M_BONE_MM, atol=0.5)
    assert conf.max() <= 1 and (conf == 0).any()  # some joints cut off by the border


def test_mediapipe_errors_swap_limbs_for_a_few_frames():
    from poselift.models.windows import Augment, mediapipe_errors
    g = torch.Generator().manual_seed(0)
    kp = torch.randn(400, 30, 17, 2, generator=g)
    conf = torch.ones(400, 30, 17)
    eligible = torch.arange(400) < 200
    out, out_conf = mediapipe_errors(kp, conf, eligible, g, Augment(hip_spread=0.0, swap=1.0))
    changed = (out - kp).abs().amax(-1) > 1e-5  # (B, T, J)
    assert not changed[200:].any()  # detections are not touched
    assert changed[:200].any(-1).any(-1).float().mean() > 0.95
    frames = changed[:200].any(-1).sum(-1)
    assert frames.min() >= 1 and frames.max() <= 15
    swapped = changed[:200].any(1)  # (B, J): which joints moved; always in left/right twins
    assert torch.equal(swapped, swapped[:, H36M.flip_index])
    assert torch.allclose(out[changed], kp[:, :, H36M.flip_index][changed], atol=1e-5)
    assert (out_conf[changed] >= 0.5).all() and (out_conf[changed] <= 1).all()


def test_mediapipe_jitter_is_correlated_over_time():
    from poselift.models.windows import Augment, mediapipe_errors
    g = torch.Generator().manual_seed(0)
    kp = torch.randn(256, 81, 17, 2, generator=g)
    out, _ = mediapipe_errors(kp, torch.ones(256, 81, 17), torch.ones(256, dtype=torch.bool), g,
                              Augment(hip_spread=0.0, jitter=0.05))
    noise = (out - kp)[:, :, 1:]
    assert 0 < noise.abs().mean() < 0.05
    step = (noise[:, 1:] - noise[:, :-1]).square().mean()
    assert step < 0.5 * noise.square().mean() * 2  # neighbours are closer than independent draws would be


@needs_h36m
@needs_bandai
def test_suites_score_virtual_cameras_and_mediapipe_shaped_input(random_weights):
    from poselift.models.checkpoint import load_weights
    from poselift.models.evaluate import evaluate
    from poselift.models.suites import load_suite
    suite = load_suite("bandai1-virtual", DATA, BANDAI)
    assert len(suite) == 4 * 174 and suite[0].fps == 30 and suite[0].sh16 is None
    again = load_suite("bandai1-virtual", DATA, BANDAI)
    assert np.array_equal(suite[5].pose2d, again[5].pose2d)  # seeded
    model = load_weights(random_weights)
    gt = evaluate(model, suite[:8], "gt", fps=30, flip=False)
    mp = evaluate(model, suite[:8], "mp", fps=30, flip=False)
    assert gt["frames"] == mp["frames"] == sum(len(s) for s in suite[:8])
    assert gt["mean"]["p1"] != mp["mean"]["p1"] and math.isfinite(mp["mean"]["p2"])
    assert mp == evaluate(model, suite[:8], "mp", fps=30, flip=False)  # the errors are seeded too
