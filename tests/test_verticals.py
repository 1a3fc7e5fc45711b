"""Gravity from the scene's vertical lines, and the fusion of up-direction evidence."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from poselift.calibration import Camera
from poselift.calibration.floor import tilt_of, up_from_tilt
from poselift.calibration.verticals import (IMAGE_UP, Segments, UpEstimate, combine_up, detect_segments, fit_scene_up,
                                            holding_prior, scene_up)

POSE2SIM = Path(os.environ.get("POSELIFT_POSE2SIM") or Path(__file__).resolve().parents[2] / "shared/data/pose2sim")
needs_pose2sim = pytest.mark.skipif(not (POSE2SIM / "calibration/Calib.qca.txt").is_file(),
                                    reason=f"Pose2Sim demo not found at {POSE2SIM}: set POSELIFT_POSE2SIM to run these tests.")
# measured: 0.1-0.5 deg on each camera's first frame, at most 1.3 deg over 8 frames each
POSE2SIM_TOLERANCE_DEG = 2.5


def angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def render_scene(cam: Camera, up: np.ndarray, seed: int = 0, verticals: int = 14, level: int = 14) -> np.ndarray:
    """Plumb lines (along ``up``, camera axes) and level lines at random places 2-9 m in front of the
    camera, drawn through its lens onto a textured grey image."""
    rng = np.random.default_rng(seed)
    h1 = np.cross(up, [0.0, 0.0, 1.0])
    h1 /= np.linalg.norm(h1)
    h2 = np.cross(up, h1)
    img = rng.normal(110, 6, (cam.height, cam.width)).clip(0, 255).astype(np.uint8)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    for i in range(verticals + level):
        z = rng.uniform(2000, 9000)
        ray = np.array([rng.uniform(-0.5, 0.5) * cam.width / cam.f[0], rng.uniform(-0.4, 0.4) * cam.height / cam.f[1], 1.0])
        centre = ray * z
        axis = up if i < verticals else (h1 if i % 2 else h2)
        t = np.linspace(-1, 1, 40)[:, None] * rng.uniform(600, 1500)
        pts = centre + t * axis
        pts = pts[pts[:, 2] > 300]
        uv = cam.project(pts).round().astype(np.int32)
        shade = int(rng.choice([20, 230]))
        cv2.polylines(img, [uv], False, (shade, shade, shade), 3, cv2.LINE_AA)
    return img


CAM = Camera(f=(1000.0, 1000.0), c=(645.0, 355.0), width=1280, height=720, k=(-0.05, 0.01, 0.0))


@pytest.mark.parametrize("pitch, roll", [(15.0, 8.0), (-10.0, -4.0), (28.0, -20.0)])
def test_vertical_lines_through_a_tilted_distorted_camera_give_its_up_within_a_degree(pitch, roll):
    up = up_from_tilt(pitch, roll)
    img = render_scene(CAM, up)
    est = scene_up(img, CAM)
    assert est is not None
    assert angle(est.up, up) < 1.0
    assert est.up[1] < 0 and 0 < est.sigma_deg < 5
    assert est.inliers >= 8 and est.inlier_length_px > 1000
    # the level lines are not taken for plumb ones
    assert len(est.index) < len(detect_segments(img, CAM))
    # people's boxes leave the lines under them out
    half = scene_up(img, CAM, exclude=np.array([[0, 0, CAM.width / 2, CAM.height]]))
    assert half is None or (half.inliers < est.inliers and angle(half.up, up) < 2.0)


def test_a_frame_with_no_lines_or_too_few_gives_no_answer():
    noise = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    assert scene_up(noise, CAM) is None
    assert scene_up(np.full((720, 1280, 3), 128, np.uint8), CAM) is None
    few = render_scene(CAM, up_from_tilt(10, 0), verticals=2, level=0)
    assert scene_up(few, CAM) is None
    assert combine_up([None]) is None


def test_a_frame_on_its_side_needs_the_prior_turned_with_it():
    up = up_from_tilt(12.0, 5.0)
    img = render_scene(CAM, up, seed=1, level=0)
    turned = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    tcam = Camera(f=CAM.f[::-1], c=(CAM.height - 1 - CAM.c[1], CAM.c[0]), width=CAM.height, height=CAM.width)
    # the plumb lines now run across the frame: with the frame's own up as the prior they are not taken
    assert scene_up(turned, tcam) is None
    # turned a quarter clockwise: the scene's up now points along the frame's +x
    est = scene_up(turned, tcam, prior_up=np.array([1.0, 0.0, 0.0]))
    assert est is not None
    assert angle(est.up, [-up[1], up[0], up[2]]) < 1.0


def test_frames_pooled_count_as_one_frame_not_as_many():
    up = up_from_tilt(20.0, -6.0)
    frames = [render_scene(CAM, up, seed=2)] * 4
    one = scene_up(frames[0], CAM)
    pooled = fit_scene_up(Segments.concat([detect_segments(f, CAM) for f in frames]))  # as the live floor pools them
    assert pooled is not None and angle(pooled.up, up) < 1.0
    assert pooled.sigma_deg == pytest.approx(one.sigma_deg, rel=0.2)
    assert pooled.inliers == pytest.approx(one.inliers, abs=1)
    assert len(Segments.concat([])) == 0


def test_lines_people_hide_in_some_pooled_frames_still_count():
    """A pool weighs as one frame, so lines hidden in three of four frames (someone in front of the
    camera) weigh a quarter in it: the pool counts when one of its frames holds enough line."""
    up = up_from_tilt(15.0, 5.0)
    img = render_scene(CAM, up, seed=3, verticals=4)  # about two image widths of plumb line in all
    hidden = detect_segments(img, CAM, exclude=np.array([[0, 0, CAM.width, CAM.height]]))
    assert len(hidden) == 0
    one = fit_scene_up(detect_segments(img, CAM))
    pooled = fit_scene_up(Segments.concat([detect_segments(img, CAM), hidden, hidden, hidden]))
    assert one is not None and one.inlier_length_px < 4 * CAM.width  # a quarter of it would be refused
    assert pooled is not None and angle(pooled.up, up) < 1.0
    assert pooled.inlier_length_px == pytest.approx(one.inlier_length_px)


def test_combine_up_weighs_by_inverse_variance_on_the_sphere():
    a = UpEstimate.isotropic(up_from_tilt(10, 0), 1.0, "scene")
    b = UpEstimate.isotropic(up_from_tilt(20, 0), 1.0, "body")
    both = combine_up([a, b])
    assert tilt_of(both.up)[0] == pytest.approx(15.0, abs=0.05)
    assert both.sigma_deg == pytest.approx(1 / np.sqrt(2), rel=0.02)
    assert both.source == "scene+body"
    # a vague one barely moves a sharp one: 1 deg against 10 deg moves it 1/101 of the way
    c = combine_up([a, UpEstimate.isotropic(up_from_tilt(20, 0), 10.0)])
    assert tilt_of(c.up)[0] == pytest.approx(10.0 + 10.0 / 101, abs=0.05)
    # anisotropic: the holding prior pulls roll (sigma 10) much harder than pitch (sigma 20)
    prior = holding_prior()
    assert np.allclose(prior.up, IMAGE_UP)
    tilted = combine_up([UpEstimate.isotropic(up_from_tilt(20, 20), 10.0), prior])
    pitch, roll = tilt_of(tilted.up)
    assert 13 < pitch < 19 and 7 < roll < 13
    # the result is a unit vector and the order of the evidence does not matter
    assert np.isclose(np.linalg.norm(tilted.up), 1.0)
    assert np.allclose(combine_up([prior, UpEstimate.isotropic(up_from_tilt(20, 20), 10.0)]).up, tilted.up, atol=1e-6)


@needs_pose2sim
def test_real_phone_frames_give_the_lab_gravity():
    from tools.scene_up_pose2sim import read_frames, read_qca

    for name, cam, truth in read_qca(POSE2SIM / "calibration/Calib.qca.txt"):
        frame = read_frames(POSE2SIM / "videos" / f"{name}.mp4", [0])[0]
        est = scene_up(frame, cam)
        assert est is not None, name
        err = angle(est.up, truth)
        assert err < POSE2SIM_TOLERANCE_DEG, (name, err)
        assert err < 2 * est.sigma_deg, (name, err, est.sigma_deg)  # the stated uncertainty covers the error
