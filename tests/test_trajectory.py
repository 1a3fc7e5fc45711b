"""World grounding: the closed-form root translation, the causal trajectory filter, metric scale
from a height, the floor and gravity from the feet, contacts and foot skating."""
import numpy as np
import pytest

from conftest import TEMPLATE, needs_h36m
from poselift.calibration import Camera
from poselift.calibration.floor import Ground, fit_up, tilt_of, up_from_tilt, world_rotation
from poselift.calibration.trajectory import TrajectoryFilter, check_height, filter_trajectory, root_translation
from poselift.models.world import (ANKLES, FootLock, body_up, causal_scale, contact_runs, fit_ground, foot_contacts, foot_skating,
                                   stature_mm)

POSE = np.array(TEMPLATE, float)


def test_root_translation_reprojects_exactly_through_a_distorted_lens():
    cam = Camera(f=(1100.0, 1000.0), c=(640.0, 360.0), width=1280, height=720, k=(-0.2, 0.05, 0.0), p=(1e-3, -5e-4))
    truth = np.array([[400.0, -150.0, 4200.0], [-900.0, 300.0, 6500.0], [0.0, 0.0, 2500.0]])
    poses = POSE[None] + [[0, 0, 0]]
    uv = cam.project(POSE[None] + truth[:, None])
    t = root_translation(np.repeat(poses, 3, 0), cam.rays(uv), np.ones((3, 17)))
    assert np.abs(t - truth).max() < 0.5
    # scaling the pose scales the distance alike: height is the only assumption behind depth
    t2 = root_translation(1.1 * np.repeat(poses, 3, 0), cam.rays(uv), np.ones((3, 17)))
    assert np.allclose(t2, 1.1 * t, rtol=1e-6)
    # a frame with no weighted joints has no translation
    assert np.isnan(root_translation(POSE, cam.rays(uv[0]), np.zeros(17))).all()


def test_trajectory_filter_is_causal_and_removes_depth_jitter_without_lagging_a_steady_walk():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    truth = np.stack([-1500 + 300 * t, np.full_like(t, 200), 5000 - 150 * t], -1)  # steady walk, 0.34 m/s
    noisy = truth * np.exp(rng.normal(0, 0.03, (300, 1)))  # 3 % depth noise along the ray
    smooth = filter_trajectory(noisy, t)
    late = slice(60, None)
    assert np.linalg.norm(smooth[late] - truth[late], axis=-1).mean() < 0.5 * np.linalg.norm(noisy[late] - truth[late], axis=-1).mean()
    def vel(r):
        return np.linalg.norm(np.diff(r[late], axis=0) - np.diff(truth[late], axis=0), axis=-1).mean()
    assert vel(smooth) < 0.2 * vel(noisy)
    prefix = filter_trajectory(noisy[:100], t[:100])
    assert np.allclose(prefix, smooth[:100])  # the past never depends on the future
    # a frame without a fit (a degenerate 2D pose) carries the prediction; one wild frame is ignored,
    # a jump held for three frames restarts it there
    f = TrajectoryFilter()
    f(truth[0], 0.0), f(truth[1], t[1])
    assert np.allclose(f(np.array([0.0, 0.0, -1.0]), t[2]), truth[2], atol=20.0)  # near where it was heading
    assert np.allclose(f(truth[3] * [1, 1, 2], t[3]), truth[3], atol=40.0)  # twice as far for one frame: a bad fit
    assert np.allclose(f(truth[4], t[4]), truth[4], atol=40.0)
    f(truth[5] * [1, 1, 2], t[5]), f(truth[6] * [1, 1, 2], t[6])
    assert np.allclose(f(truth[7] * [1, 1, 2], t[7]), truth[7] * [1, 1, 2])  # three frames: it moved there
    # the same in time at 120 fps: four frames of a bad fit are held, a jump lasting 1/15 s is real
    fast = TrajectoryFilter()
    for k in range(3):
        fast(truth[0], k / 120)
    assert all(np.allclose(fast(truth[0] * [1, 1, 2], k / 120), truth[0], atol=40.0) for k in range(3, 7))
    assert np.allclose(fast(truth[0], 7 / 120), truth[0], atol=40.0)
    held = [fast(truth[0] * [1, 1, 2], k / 120) for k in range(8, 16)]
    assert np.allclose(held[0], truth[0], atol=40.0) and np.allclose(held[-1], truth[0] * [1, 1, 2])
    assert np.isnan(TrajectoryFilter()(np.full(3, np.nan), 0.0)).all()


@pytest.mark.parametrize("bad", [0.0, 5.0, -1.7])
def test_a_height_no_person_has_is_refused_in_one_sentence(bad):
    with pytest.raises(ValueError, match=r"out of range: give the person's height in metres, from 0.5 to 2.5"):
        check_height(bad)
    assert check_height(1.85) == 1.85


def test_scale_gives_the_pose_the_height_asked_for():
    poses = np.repeat(POSE[None], 10, 0)
    poses[3] = np.nan
    s = causal_scale(poses, 1.8)
    assert np.isfinite(s).all()
    assert np.allclose(stature_mm(s[:, None, None] * POSE), 1800.0)


def walk_filmed_by_a_tilted_camera(n: int = 150, fps: int = 30):
    """A world walk (Y up, floor 0) on a diagonal, the planted foot still while the other swings past
    it, seen by a camera 2 m up pitched 20 degrees down and rolled -4: (times, world, camera, up)."""
    t = np.arange(n) / fps
    cam_up = up_from_tilt(20.0, -4.0)
    heading, start, step = np.array([0.87, 0.0, 0.5]), np.array([-1500.0, 0.0, -5000.0]), 600.0
    world = np.zeros((n, 17, 3))
    for f in range(n):
        phase, k = (f % 30) / 30, f // 30
        world[f] = POSE * [1, -1, -1] + start + [0, 950, 0] + heading * step * (k + phase)
        for foot in (0, 1):
            along = step * k if k % 2 == foot else step * (k - np.cos(np.pi * phase))  # eased swing
            lift = 0 if k % 2 == foot else 150 * np.sin(np.pi * phase)
            side = np.array([-heading[2], 0, heading[0]]) * (80 if foot else -80)
            world[f, ANKLES[foot]] = start + heading * along + side + [0, 66 + lift, 0]
    camera = (world - [0, 2000, 0]) @ world_rotation(cam_up)  # rotation rows map camera -> world
    return t, world, camera, cam_up


def test_floor_gravity_contacts_and_skating_of_a_walk_filmed_by_a_tilted_camera():
    t, world, camera, cam_up = walk_filmed_by_a_tilted_camera()
    n = len(t)
    ground = fit_ground([(camera[:, ANKLES], t)], body_up(camera), 1700.0).ground
    assert np.degrees(np.arccos(np.clip(np.dot(ground.up, cam_up), -1, 1))) < 1.0
    assert abs(ground.camera_height_mm - 2000) < 20
    pitch, roll = tilt_of(np.array(ground.up))
    assert abs(pitch - 20) < 1 and abs(roll + 4) < 1
    back = Ground(ground.up, ground.camera_height_mm).to_world(camera)
    assert np.abs(back[..., 1] - world[..., 1]).max() < 25
    contacts = foot_contacts(back[:, ANKLES], t, 1700.0)
    stance = np.array([[(f // 30) % 2 == foot for foot in (0, 1)] for f in range(n)])
    assert contacts[stance].mean() > 0.95 and contacts[~stance].mean() < 0.35  # slow ends of a swing count
    assert len(contact_runs(contacts)) >= 4
    # Monocular depth makes the whole body wander (here a random walk along the floor): the lock holds
    # each planted ankle where it touched down all the same.
    wander = np.cumsum(np.random.default_rng(2).normal(0, 8, (n, 2)), axis=0)
    noisy = back[:, ANKLES].copy()
    noisy[..., [0, 2]] += wander[:, None]
    lock, locked = FootLock(), noisy.copy()
    for f in range(n):
        locked[f] += lock(noisy[f], stance[f], t[f], np.array([0.0, 1.0, 0.0]))
    raw, held = np.median(foot_skating(noisy, stance)), np.median(foot_skating(locked, stance))
    assert raw > 25 and held < 0.5 * raw  # the pin follows the wander over LOCK_FOLLOW_S, no faster


def test_sure_scene_verticals_set_gravity_on_their_own():
    """The walkers' plumb line 8° off the scene's (people lean): the floor takes the lines' up as it is,
    not weighed with the bodies'."""
    from test_verticals import CAM, angle, render_scene

    from poselift.calibration.verticals import scene_up
    from poselift.engine.live.world import Floor
    t, _, camera, cam_up = walk_filmed_by_a_tilted_camera()
    image = render_scene(CAM, up_from_tilt(28.0, -4.0))  # the camera pitched 20°, the lines say 28°
    lines = scene_up(image, CAM)
    assert lines is not None and lines.sigma_deg < 5 and angle(lines.up, cam_up) > 7
    floor = Floor()
    floor.see(image, CAM, [], 0.0)
    key = floor.track()
    for pose, time in zip(camera, t):
        floor.observe(key, pose, time)
    assert angle(floor.ground.up, lines.up) < 0.01


def test_the_floor_is_the_lowest_level_when_someone_stands_on_a_roof():
    # The walker's feet, and a second person standing longer on a roof 2.2 m up, behind her: one
    # plane through all their resting feet would tilt and rise towards the roof.
    t, _, camera, cam_up = walk_filmed_by_a_tilted_camera()
    rng = np.random.default_rng(3)
    roof = np.zeros((300, 17, 3))
    for f in range(300):
        roof[f] = POSE * [1, -1, -1] + [1500, 950 + 2200, -9000] + rng.normal(0, 5, 3)
        roof[f, ANKLES[0]], roof[f, ANKLES[1]] = [1420, 2266, -9000], [1580, 2266, -9000]
    roof_cam = (roof - [0, 2000, 0]) @ world_rotation(cam_up)
    tracks = [(camera[:, ANKLES], t), (roof_cam[:, ANKLES], np.arange(300) / 30)]
    prior = body_up(np.concatenate([camera, roof_cam]))
    ground = fit_ground(tracks, prior, 1700.0).ground
    assert np.degrees(np.arccos(np.clip(np.dot(ground.up, cam_up), -1, 1))) < 1.0
    assert abs(ground.camera_height_mm - 2000) < 20
    on_roof = fit_ground(tracks[1:], prior, 1700.0).ground  # alone, the roof is the floor
    assert abs(on_roof.camera_height_mm - (2000 - 2200)) < 20


def test_someone_on_a_roof_seen_from_below_does_not_tilt_the_street():
    """Without the scene's lines, gravity leans on the bodies' plumb line. A person on a roof is seen from
    below, and their lift leans back (the demo clip's man by 11-22°): the street's floor takes its plumb
    line from the people standing on it (4-8° off with everyone's, for a lean of 15-25°)."""
    from poselift.engine.live.world import Floor
    t, _, camera, cam_up = walk_filmed_by_a_tilted_camera()
    rng = np.random.default_rng(4)
    drift = rng.normal(0.0, 20.0, (len(t), 2, 3))  # monocular feet wander, slowly
    for f in range(1, len(t)):
        drift[f] = 0.85 * drift[f - 1] + 0.45 * drift[f]
    camera = camera.copy()
    camera[:, ANKLES] += drift
    for lean in (15.0, 25.0):
        a = np.radians(lean)
        back = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        roof = np.repeat(POSE[None] * [1, -1, -1] + [1500, 950 + 2200, -9000], len(t), 0)
        roof[:, ANKLES[0]], roof[:, ANKLES[1]] = [1420, 2266, -9000], [1580, 2266, -9000]
        roof = (roof - [0, 2000, 0]) @ world_rotation(cam_up)
        roof = (roof - roof[:, :1]) @ back.T + roof[:, :1]
        floor = Floor()
        street, up_there = floor.track(), floor.track()
        for f in range(len(t)):
            floor.observe(street, camera[f], t[f])
            floor.observe(up_there, roof[f], t[f])
        assert np.degrees(np.arccos(np.clip(np.dot(floor.ground.up, cam_up), -1, 1))) < 3.0
        assert abs(floor.ground.camera_height_mm - 2000) < 200


def test_feet_on_a_box_count_as_planted_and_the_level_drops_with_the_person():
    # A drop jump: standing on a 50 cm box for a second, 12 frames in the air, then on the floor.
    from poselift.models.world import StandingLevel
    fps, rest = 30, 66.0
    ankle_y = np.r_[np.full(30, 500 + rest), np.linspace(500 + rest, rest, 12), np.full(30, rest)]
    forward = np.r_[np.zeros(30), np.linspace(0, 400, 12), np.full(30, 400.0)]
    ankles = np.stack([np.stack([forward, ankle_y, np.full_like(forward, side)], -1) for side in (-90, 90)], 1)
    t = np.arange(len(ankles)) / fps
    standing = StandingLevel(1700.0)
    levels = np.array([standing(ankles[f], t[f]) for f in range(len(t))])
    assert np.allclose(levels[2:42], 500, atol=1) and np.allclose(levels[43:], 0)  # held in the air
    planted = foot_contacts(ankles - levels[:, None, None] * [0, 1, 0], t, 1700.0)
    assert planted[3:30].all() and not planted[31:41].any() and planted[44:].all()
    assert not foot_contacts(ankles, t, 1700.0)[3:30].any()  # against the floor alone: never planted


def test_fit_up_leaves_the_tilt_to_the_prior_when_the_feet_never_travel():
    prior = up_from_tilt(10.0)
    pts = np.random.default_rng(1).normal([0, 1500, 4000], [30, 10, 30], (50, 3))
    assert np.degrees(np.arccos(np.clip(fit_up(pts, prior) @ prior, -1, 1))) < 2


@needs_h36m
def test_human36m_root_trajectory_and_gravity_from_the_lifted_walk(s9):
    from poselift.engine.live.factory import DEFAULT_WEIGHTS
    from poselift.models.checkpoint import load_weights
    from poselift.models.world_eval import evaluate_world

    seq = [s for s in s9 if s.take == "Walking 1"][:1]
    r = evaluate_world(load_weights(DEFAULT_WEIGHTS), seq, "gt", heights="subject")  # S9 is 1.79 m
    assert r["mean"]["root"] < 150 and r["mean"]["abs_mpjpe"] < 180  # about 1-3 % of a 5 m distance
    assert r["mean"]["root_vel"] < r["mean"]["root"] / 5
    assert r["mean"]["up_deg"] < 5


@needs_h36m
def test_the_world_protocol_scores_a_learned_trajectory_head_beside_the_closed_form(s9):
    from poselift.engine.live.factory import DEFAULT_WEIGHTS
    from poselift.models.checkpoint import load_weights
    from poselift.models.world_eval import evaluate_world, world_table

    seq = [s for s in s9 if s.take == "Walking 1"][:1]
    tgraphnet = evaluate_world(load_weights(DEFAULT_WEIGHTS.with_name("tgraphnet.pt")), seq, "gt", heights="subject")
    tcn = evaluate_world(load_weights(DEFAULT_WEIGHTS), seq, "gt", heights="subject")
    assert 0 < tgraphnet["mean"]["root_head"] < 5000 and "root_head" not in tcn["mean"]
    assert "root, learned head (mm)" in world_table([tgraphnet, tcn]).splitlines()[0]


def _lifted(pose: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, t: float, world):
    """What ``Clip.from_results`` reads of a pipeline Result, for a world stream fed by hand."""
    from types import SimpleNamespace
    return SimpleNamespace(pose3d=pose, keypoints=keypoints, person=True, confidence=confidence,
                           uncertainty=np.full(17, 25.0), timestamp=t, refined=np.zeros(17, bool), world=world,
                           lifted=None, mediapipe=SimpleNamespace(world=np.zeros((33, 3))))


def test_live_world_stream_settles_in_seconds_then_holds_and_its_clip_round_trips(tmp_path):
    from conftest import grounded_clip
    from poselift.engine.outputs.clip import Clip
    from poselift.engine.live.world import WorldSettings, WorldStream, world_pose
    clip, world = grounded_clip(frames=300, gaps=())
    cam = Camera.from_dict(clip.meta["camera"])
    true_up = np.array(clip.meta["world"]["ground"]["up"])
    stream = WorldStream(WorldSettings(height_m=float(stature_mm(world[0]) / 1000), foot_lock=False))
    results, angle = [], []
    for f in range(len(clip)):
        w = stream.step(clip.pose3d[f], clip.keypoints[f], clip.confidence[f], cam, clip.timestamps[f])
        angle.append(np.degrees(np.arccos(np.clip(np.dot(w.ground.up, true_up), -1, 1))) if w.ground else np.nan)
        results.append(_lifted(clip.pose3d[f], clip.keypoints[f], clip.confidence[f], clip.timestamps[f], w))
    angle = np.array(angle)
    settled = int(3 * clip.fps)
    assert stream.floor.settled and np.nanmax(angle[settled:]) < 3.0
    assert np.ptp(angle[settled:]) < 1.0  # after settling, the floor holds still
    root = np.array([r.world.root_mm for r in results])
    cam_root = clip.trajectory
    assert np.linalg.norm(root[30:] - cam_root[30:], axis=-1).mean() < 30
    again = Clip.load(Clip.from_results(results, clip.fps, {"world": {"height_m": 1.7}}).save(tmp_path / "w.npz"))
    assert again.trajectory.shape == (300, 3) and again.contacts.shape == (300, 2) and again.scale.shape == (300,)
    assert again.meta["world"]["height_m"] == 1.7 and again.meta["world"]["ground"]["camera_height_mm"] > 0
    assert np.isfinite(world_pose(again)[30:]).all()


@pytest.mark.parametrize("height", ["0", "5"])
def test_process_refuses_a_height_no_person_has_before_writing_anything(tmp_path, height):
    import subprocess
    import sys

    from conftest import DEMO
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "poselift", "process", str(DEMO), "-o", str(out),
                             "--height", height], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "not a person's height in metres: give a number from 0.5 to 2.5" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_a_shorter_person_is_scaled_onto_the_floor_the_taller_one_walks_on():
    # Two walkers on one floor, the second 0.85 times the first's size. Both are lifted at the prior
    # height, so the second is placed 1/0.85 times too far along her rays and sinks under the floor.
    t, world, camera, cam_up = walk_filmed_by_a_tilted_camera()
    shorter = (0.85 * world + [1500, 0, 0] - [0, 2000, 0]) @ world_rotation(cam_up) / 0.85
    fit = fit_ground([(camera[:, ANKLES], t), (shorter[:, ANKLES], t)], body_up(camera), 1700.0)
    assert np.degrees(np.arccos(np.clip(np.dot(fit.ground.up, cam_up), -1, 1))) < 1.0
    # neither person's height is known: the camera height lies between the two they imply, near the taller
    # one's (a person far shorter than the prior is common, far taller rare; the geometric mean is 2169)
    assert 2000 < fit.ground.camera_height_mm < 2000 * 0.85**-0.25
    assert abs(fit.scales[1] / fit.scales[0] - 0.85) < 0.02
    for track, scale in zip((camera, shorter), fit.scales):
        feet = fit.ground.to_world(scale * track[:, ANKLES])[..., 1]
        assert abs(np.median(feet.min(axis=1)) - 66 * scale * fit.ground.camera_height_mm / 2000) < 15


def test_a_person_who_left_and_came_back_rests_on_the_last_floor_in_both_stretches():
    # A walks in view, leaves for a second and comes back (two stretches, two tracks); B, shorter, walks
    # throughout, so the shared floor's refits move the camera height, and with it the scale that puts
    # A's first stretch on the floor, after that stretch has ended.
    from conftest import grounded_clip
    from poselift.engine.live.world import Floor, WorldSettings, WorldStream
    from poselift.engine.outputs.clip import Clip
    clip, world = grounded_clip(frames=150, gaps=(), pitch_deg=15.0, camera_height_mm=1800.0)
    ground, cam = Ground.from_dict(clip.meta["world"]["ground"]), Camera.from_dict(clip.meta["camera"])
    under = world[:, :1] * [1, 0, 1]
    shorter = 0.85 * (world - under) + under + [0, 0, -1500]  # her feet on the same floor, further away
    floor = Floor(WorldSettings(height_m=float(stature_mm(world[0]) / 1000), foot_lock=False))
    streams = {"A": WorldStream(floor=floor), "B": WorldStream(floor=floor)}
    results = {"A": [], "B": []}
    for f in range(len(clip)):
        for name, body in (("A", world[f]), ("B", shorter[f])):
            if name == "A" and 60 <= f < 90:
                if f == 60:
                    streams["A"].reset()  # she left: her next stretch in view is a new track
                continue
            c = (body - [0, ground.camera_height_mm, 0]) @ ground.rotation
            kp = c[:, :2] / c[:, 2:] * cam.f + cam.c
            w = streams[name].step(c - c[0], kp, np.full(17, 0.9), cam, clip.timestamps[f])
            results[name].append(_lifted(c - c[0], kp, np.full(17, 0.9), clip.timestamps[f], w))
    onto = [r.world.onto for r in results["A"]]  # her scale onto the floor; index 60 is her return
    assert abs(onto[59] - 1) > 0.01 and onto[60] == onto[59]  # back, she keeps her size until refitted
    a = Clip.from_results(results["A"], clip.fps)
    placed = Ground.from_dict(a.meta["world"]["ground"]).to_world(a.scale[:, None, None] * a.pose3d
                                                                  + a.trajectory[:, None])
    lower = placed[:, list(ANKLES), 1].min(axis=1)
    first, second = lower[:60], lower[60:]
    assert abs(np.median(first) - np.median(second)) < 5  # mm: one floor under both stretches (23 apart before)


def test_a_short_run_cut_off_by_a_move_faster_than_anyone_is_a_misplacement():
    from poselift.models.world import SPIKE_S, placement_spikes
    t = np.arange(150) / 30.0
    walk = np.column_stack([1500.0 * t, np.full_like(t, -900.0), np.full_like(t, 6000.0)])  # 1.5 m/s, 6 m away
    root = walk.copy()
    root[40:50] = np.nan  # lost in the air
    root[50:56] *= 0.5  # found again garbled: placed at half the distance for 0.2 s
    root[0, 2] += 500.0  # the first frame off by half a metre
    assert np.flatnonzero(placement_spikes(root, t)).tolist() == [0, *range(50, 56)]

    sprint = walk * [6.0, 1.0, 1.0]  # 9 m/s across
    assert not placement_spikes(sprint, t).any()
    moved = walk.copy()
    moved[60:, 2] -= 3000.0  # somewhere else for longer than a spike lasts (a cut in the video)
    assert not placement_spikes(moved, t).any()
    brief = walk.copy()
    brief[60:60 + round(SPIKE_S * 30) + 2, 2] -= 3000.0  # just over the longest spike
    assert not placement_spikes(brief, t).any()
