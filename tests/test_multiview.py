import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from poselift.calibration.camera import CalibrationError, Camera, OpenCVCamera
from poselift.calibration import people as people_module
from poselift.calibration.people import PeopleTracker, match_people, track_people
from poselift.calibration.rig import (
    fit_to_frames,
    load_rig,
    match_videos,
    read_calibration,
    read_qualisys,
    true_ground,
)
from poselift.calibration.triangulation import reprojection_errors, triangulate
from poselift.engine.offline.multiview import MultiviewError, world_up
from poselift.models.skeletons import MEDIAPIPE

POSE2SIM = Path(os.environ.get("POSELIFT_POSE2SIM") or Path(__file__).resolve().parents[2] / "shared/data/pose2sim")
QCA = POSE2SIM / "calibration" / "Calib.qca.txt"
needs_calibration = pytest.mark.skipif(not QCA.is_file(), reason=f"Pose2Sim demo not found at {POSE2SIM}: set POSELIFT_POSE2SIM to run these tests.")
needs_videos = pytest.mark.skipif(not (POSE2SIM / "videos" / "cam01.mp4").is_file(),
                                  reason=f"Pose2Sim demo videos not found at {POSE2SIM}: set POSELIFT_POSE2SIM to run these tests.")


def ring(n: int = 4, radius: float = 4000.0, height: float = 1800.0) -> list[Camera]:
    """Portrait cameras on a circle around the origin, looking at (0, 0, 900) mm (world Z up)."""
    cams = []
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        centre = np.array([radius * np.cos(a), radius * np.sin(a), height])
        z = np.array([0, 0, 900.0]) - centre
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        cams.append(OpenCVCamera(f=(1680, 1678), c=(540, 955), width=1088, height=1920, k=(-0.05, 0.14, 0),
                                 p=(6e-4, 7e-4), R=np.stack([x, np.cross(z, x), z]), T=centre))
    return cams


def body(rng, at=(0.0, 0.0), joints: int = 33) -> np.ndarray:
    """A person-sized cloud of joints (J, 3) mm standing at ``at`` on the floor."""
    return np.column_stack([rng.uniform(-250, 250, joints) + at[0], rng.uniform(-150, 150, joints) + at[1],
                            rng.uniform(0, 1750, joints)])


def project(cams, X):
    return np.stack([c.project(c.world_to_camera(X)) for c in cams])


def toml_of(cams, names) -> str:
    out = []
    for name, c in zip(names, cams):
        rvec = cv2.Rodrigues(np.asarray(c.R))[0].ravel()
        t = -np.asarray(c.R) @ np.asarray(c.T) / 1000.0
        out.append(f"[{name}]\nname = \"{name}\"\nsize = [ {c.width}.0, {c.height}.0]\n"
                   f"matrix = [ [ {c.f[0]}, 0.0, {c.c[0]}], [ 0.0, {c.f[1]}, {c.c[1]}], [ 0.0, 0.0, 1.0]]\n"
                   f"distortions = [ {c.k[0]}, {c.k[1]}, {c.p[0]}, {c.p[1]}]\n"
                   f"rotation = [ {rvec[0]}, {rvec[1]}, {rvec[2]}]\ntranslation = [ {t[0]}, {t[1]}, {t[2]}]\nfisheye = false\n")
    return "\n".join(out) + "\n[metadata]\nadjusted = false\nerror = 0.0\n"


# -- camera model and reading ----------------------------------------------------------------------------

def test_opencv_camera_projects_as_opencv():
    cam = ring(1)[0]
    X = np.random.default_rng(0).uniform(-1000, 1000, (50, 3)) + [0, 0, 900]
    K = np.array([[cam.f[0], 0, cam.c[0]], [0, cam.f[1], cam.c[1]], [0, 0, 1]])
    dist = np.array([cam.k[0], cam.k[1], cam.p[0], cam.p[1], cam.k[2]])
    want = cv2.projectPoints(X, cv2.Rodrigues(cam.R)[0], -cam.R @ cam.T, K, dist)[0].reshape(-1, 2)
    got = cam.project(cam.world_to_camera(X))
    assert np.abs(got - want).max() < 1e-6
    assert np.abs(cam.rays(got) - cam.world_to_camera(X)[:, :2] / cam.world_to_camera(X)[:, 2:]).max() < 1e-9
    assert isinstance(cam.resized(544, 960), OpenCVCamera)


def standing(frames: int = 20, lean_deg: float = 5.0) -> np.ndarray:
    """Two people's MediaPipe landmarks (F, 2, 33, 3) mm in a Z-up world, leaning ``lean_deg`` forward
    along X, some frames not triangulated."""
    i = MEDIAPIPE.joints.index
    pts = np.full((frames, 2, 33, 3), np.nan)
    lean = np.radians(lean_deg)
    for p, x in enumerate((0.0, 1500.0)):
        for name, height in (("left_ankle", 80.0), ("right_ankle", 80.0), ("left_shoulder", 1400.0), ("right_shoulder", 1400.0)):
            side = 150.0 if name.startswith("left") else -150.0
            pts[:, p, i(name)] = [x + height * np.sin(lean), side, height * np.cos(lean)]
    pts[::4, 1] = np.nan
    return pts


@pytest.mark.parametrize("world, axis", [(np.eye(3), "+Z"), (np.diag([1.0, -1.0, -1.0]), "-Z"),
                                         (np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]), "-Y")])
def test_the_worlds_up_is_its_axis_nearest_the_peoples_up(world, axis):
    name, up, off = world_up(standing() @ world.T)  # a lab's Z up; a board's world upside down; Y down
    assert name == axis and np.allclose(up, world @ [0, 0, 1.0]) and abs(off - 5.0) < 0.1
    turned = np.array([[1.0, 0, 0], [0, np.cos(0.6), -np.sin(0.6)], [0, np.sin(0.6), np.cos(0.6)]])
    assert world_up(standing(lean_deg=0) @ turned.T)[2] > 30  # a world with no axis up: 34° off the nearest
    with pytest.raises(MultiviewError, match="nobody's shoulders and ankles"):
        world_up(np.full((3, 1, 33, 3), np.nan))


def test_toml_reads_like_the_cameras_written(tmp_path):
    cams = ring()
    path = tmp_path / "Calib.toml"
    path.write_text(toml_of(cams, [f"int_cam{i + 1:02d}_img" for i in range(4)]))
    read = read_calibration(tmp_path)  # the folder holding it
    assert list(read) == [f"int_cam{i + 1:02d}_img" for i in range(4)]
    X = body(np.random.default_rng(1))
    for a, b in zip(cams, read.values()):
        assert np.abs(a.project(a.world_to_camera(X)) - b.project(b.world_to_camera(X))).max() < 1e-6
        assert np.allclose(b.T, a.T, atol=1e-6)


def test_videos_match_cameras_by_name_then_number_then_order():
    cams = {n: Camera.from_fov(1088, 1920) for n in ("int_cam02_img", "int_cam01_img", "int_cam10_img")}
    matched = match_videos(cams, ["v/cam10.mp4", "v/cam1.mp4", "v/cam02.mp4"])
    assert list(matched) == ["cam1", "cam02", "cam10"]
    assert matched["cam10"] is cams["int_cam10_img"] and matched["cam1"] is cams["int_cam01_img"]
    by_name = {"left": Camera.from_fov(10, 20), "right": Camera.from_fov(10, 20)}
    assert match_videos(by_name, ["RIGHT.mp4", "left.mp4"])["RIGHT"] is by_name["right"]
    by_order = {"b": Camera.from_fov(10, 20), "a": Camera.from_fov(10, 20)}
    assert match_videos(by_order, ["x.mp4", "y.mp4"])["x"] is by_order["a"]
    with pytest.raises(CalibrationError, match="has 3 cameras .* there are 4 videos"):
        match_videos(cams, ["cam1.mp4", "cam2.mp4", "cam3.mp4", "cam4.mp4"])


def test_bad_calibrations_are_refused(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist"):
        read_calibration(tmp_path / "nothing.toml")
    (tmp_path / "broken.qca.txt").write_text("<calibration><cameras><camera serial='c1'>")
    with pytest.raises(CalibrationError, match="not readable Qualisys XML"):
        read_calibration(tmp_path / "broken.qca.txt")
    (tmp_path / "a.toml").write_text("[metadata]\nerror = 0.0\n")
    with pytest.raises(CalibrationError, match="holds 2 calibration files"):
        read_calibration(tmp_path)
    with pytest.raises(CalibrationError, match="no camera tables"):
        read_calibration(tmp_path / "a.toml")
    landscape = ring(1)[0].resized(1088, 1920)
    landscape = OpenCVCamera(**{**vars(landscape), "width": 1920, "height": 1088})
    with pytest.raises(CalibrationError, match="turned a quarter"):
        fit_to_frames(landscape, 1088, 1920)
    assert fit_to_frames(ring(1)[0], 544, 960).f[0] == pytest.approx(840)


@needs_calibration
def test_qualisys_calibration_of_the_demo():
    cams = read_qualisys(QCA)
    assert list(cams) == ["cam01", "cam02", "cam03", "cam04"]
    for cam in cams.values():
        assert (cam.width, cam.height) == (1088, 1920)  # portrait, as the videos decode
        assert 0.25 * cam.width < cam.c[0] < 0.75 * cam.width and 0.25 * cam.height < cam.c[1] < 0.75 * cam.height
        ground = true_ground(cam)
        assert 1600 < ground.camera_height_mm < 2200  # the README: 1.7-2.1 m
        assert -1 < ground.up[1] < -0.8 and ground.up[2] < -0.2  # upright phones pitched down
        # each camera looks towards the scene (the world origin lies ahead and inside its picture)
        origin = cam.world_to_camera(np.array([0.0, 0, 900]))
        assert origin[2] > 2000 and cam.inside(cam.project(origin))


# -- triangulation, synthetic ----------------------------------------------------------------------------

def cameras_for_synthetic():
    return list(read_qualisys(QCA).values()) if QCA.is_file() else ring()


def test_triangulation_recovers_points_and_drops_an_outlier_view():
    cams = cameras_for_synthetic()
    rng = np.random.default_rng(2)
    X = np.stack([body(rng, (0, 0)), body(rng, (300, -400))])  # (2, J, 3): a frame axis too
    uv = np.stack([project(cams, x) for x in X])  # (2, V, J, 2)
    exact = triangulate(uv, np.ones(uv.shape[:-1]), cams)
    assert np.abs(exact.points - X).max() < 0.05 and np.nanmax(exact.error) < 1e-3
    noisy = uv + rng.normal(0, 1.0, uv.shape)
    noisy[:, 2, :10] += [90.0, -60.0]  # one view's detector is wrong about ten joints
    w = rng.uniform(0.6, 1.0, uv.shape[:-1])
    w[:, 3, 20:] = 0.1  # and another hardly sees some: left out
    tri = triangulate(noisy, w, cams)
    err = np.linalg.norm(tri.points - X, axis=-1)
    assert np.median(err) < 6 and err.max() < 25
    assert not tri.views[:, 2, :10].any() and tri.views[:, 2, 10:].mean() > 0.9
    assert not tri.views[:, 3, 20:].any()
    assert np.nanmax(tri.error) < 5
    naive = triangulate(noisy, w, cams, gate_px=1e9)  # no gate: the outlier view drags the joints away
    assert np.linalg.norm(naive.points[:, :10] - X[:, :10], axis=-1).mean() > 3 * err[:, :10].mean()
    assert np.allclose(reprojection_errors(X, uv, cams), 0, atol=1e-6)


def test_triangulation_needs_two_views():
    cams = cameras_for_synthetic()
    X = body(np.random.default_rng(3), joints=5)
    uv = project(cams, X)
    w = np.zeros(uv.shape[:-1])
    w[0] = 1
    w[1, :2] = 1
    tri = triangulate(uv, w, cams)
    assert np.isnan(tri.points[2:]).all() and np.isnan(tri.error[2:]).all() and not tri.views[:, 2:].any()
    assert np.abs(tri.points[:2] - X[:2]).max() < 0.1


def detections(cams, people, rng, noise=1.5):
    """Per view: the people's pixels (n, J, 2) in a random order, some left/right swapped, and visibility."""
    pts, vis, order = [], [], []
    for v in range(len(cams)):
        seen = [i for i in range(len(people)) if people[i] is not None and not (v == 0 and i == 1)]
        perm = rng.permutation(seen)
        uv = []
        for i in perm:
            p = project(cams[v:v + 1], people[i])[0] + rng.normal(0, noise, people[i].shape[:1] + (2,))
            uv.append(p[MEDIAPIPE.flip_index] if v == 3 else p)  # camera 4 swaps everyone's left and right
        pts.append(np.array(uv).reshape(-1, people[0].shape[0], 2))
        vis.append(np.full(pts[-1].shape[:2], 0.9))
        order.append(list(perm))
    return pts, vis, order


def test_people_are_matched_across_views_and_keep_their_ids():
    cams = cameras_for_synthetic()
    rng = np.random.default_rng(4)
    base = [body(rng, (0, 0)), body(rng, (700, -500))]
    tracker = PeopleTracker(cams, flip=MEDIAPIPE.flip_index)
    seen_ids = []
    for frame in range(8):
        people = [b + [frame * 40.0, (-1) ** i * frame * 25.0, 0] for i, b in enumerate(base)]
        pts, vis, order = detections(cams, people, rng)
        found = tracker(pts, vis)
        assert len(found) == 2
        for m in found.values():
            truth = int(np.argmin([np.nanmedian(np.linalg.norm(m.points - p, axis=-1)) for p in people]))
            assert np.nanmedian(np.linalg.norm(m.points - people[truth], axis=-1)) < 15
            for v, d in enumerate(m.detections):
                if d >= 0:
                    assert order[v][d] == truth
            assert m.flipped.tolist() == [False, False, False, True]
            assert m.detections[0] == (-1 if truth == 1 else order[0].index(0))
        seen_ids.append({pid: int(np.argmin([np.nanmedian(np.linalg.norm(m.points - p, axis=-1)) for p in people]))
                         for pid, m in found.items()})
    assert all(ids == seen_ids[0] for ids in seen_ids)


def test_match_people_without_history_and_track_people():
    cams = cameras_for_synthetic()
    rng = np.random.default_rng(5)
    people = [body(rng, (0, 0)), body(rng, (-800, 300))]
    pts, vis, _ = detections(cams, people, rng)
    matches = match_people(pts, vis, cams, flip=MEDIAPIPE.flip_index)
    assert len(matches) == 2 and all(m.previous is None for m in matches)
    frames = [detections(cams, [p + [10.0 * f, 0, 0] for p in people], rng) for f in range(3)]
    ref = track_people([f[0] for f in frames], [f[1] for f in frames], cams, flip=MEDIAPIPE.flip_index)
    assert ref.ids.tolist() == [0, 1] and ref.points.shape == (3, 2, 33, 3)
    assert (ref.detections >= 0).sum(-1).min() >= 3 and np.isfinite(ref.points).all()


def test_a_person_whose_views_disagree_a_little_stays_one_person(monkeypatch):
    """Two views see one person 18 cm off where the other two see them (a 2D slightly off, as a re-encoded
    video gives): the views' epipolar grouping splits them, and the two halves are joined in 3D."""
    cams = cameras_for_synthetic()
    rng = np.random.default_rng(6)
    one, other = body(rng, (0, 0)), body(rng, (-900, 400))
    pts = [np.stack([project(cams[v:v + 1], one + ([180.0, 0, 0] if v >= 2 else 0))[0],
                     project(cams[v:v + 1], other)[0]]) + rng.normal(0, 1.5, (2, 33, 2)) for v in range(4)]
    vis = [np.full((2, 33), 0.9)] * 4
    monkeypatch.setattr(people_module, "SAME_PERSON_MM", 0.0)
    assert len(match_people(pts, vis, cams, flip=MEDIAPIPE.flip_index)) == 3  # the split this test is about
    monkeypatch.undo()
    matches = match_people(pts, vis, cams, flip=MEDIAPIPE.flip_index)
    assert len(matches) == 2 and all((m.detections >= 0).all() for m in matches)
    nearest = min(matches, key=lambda m: np.nanmedian(np.linalg.norm(m.points - one, axis=-1)))
    assert np.nanmedian(np.linalg.norm(nearest.points - one, axis=-1)) < 150
    ref = track_people([pts] * 3, [vis] * 3, cams, flip=MEDIAPIPE.flip_index)
    assert ref.ids.tolist() == [0, 1]


# -- the demo's real video through MediaPipe -----------------------------------------------------------

FRAMES = 6


def mediapipe_detections(videos, frames: int):
    from poselift.engine.live.keypoints import MediaPipePoses

    pts = [[None] * len(videos) for _ in range(frames)]
    vis = [[None] * len(videos) for _ in range(frames)]
    for v, video in enumerate(videos):
        cap = cv2.VideoCapture(str(video))
        poses = MediaPipePoses(num_poses=2)
        for f in range(frames):
            ok, image = cap.read()
            assert ok and image.shape[:2] == (1920, 1088)
            people = poses(image)
            pts[f][v] = np.array([k.landmarks for k in people]).reshape(-1, 33, 2)
            vis[f][v] = np.array([k.visibility for k in people]).reshape(-1, 33)
        poses.close()
        cap.release()
    return pts, vis


@needs_videos
def test_demo_reference_from_mediapipe():
    rig = load_rig(POSE2SIM)
    assert rig.names == ("cam01", "cam02", "cam03", "cam04")
    assert all((c.width, c.height) == (1088, 1920) for c in rig.cameras)
    pts, vis = mediapipe_detections(rig.videos, FRAMES)
    ref = track_people(pts, vis, rig.cameras, flip=MEDIAPIPE.flip_index)
    # two people, both in every frame, from at least two views each, under the same ids throughout
    assert ref.ids.tolist() == [0, 1]
    assert (np.isfinite(ref.points).all(-1).sum(-1) >= 25).all()
    assert ((ref.detections >= 0).sum(-1) >= 2).all()
    centre = np.nanmedian(ref.points, axis=2)
    assert np.linalg.norm(np.diff(centre, axis=0), axis=-1).max() < 150
    assert np.linalg.norm(centre[:, 0] - centre[:, 1], axis=-1).min() > 500
    # well-seen joints reproject within ~8 px (median; measured 7.9 px, the calibration's own spread
    # between cameras is ~20 px for cam03)
    errors = []
    for f in range(FRAMES):
        for p in range(2):
            for v in range(4):
                d = ref.detections[f, p, v]
                if d >= 0:
                    perm = MEDIAPIPE.flip_index if ref.flipped[f, p, v] else np.arange(33)
                    e = reprojection_errors(ref.points[f, p], pts[f][v][d][perm][None], [rig.cameras[v]])[0]
                    errors.append(e[ref.views[f, p, v] & (vis[f][v][d][perm] >= 0.9)])
    errors = np.concatenate(errors)
    assert np.median(errors) < 14 and np.percentile(errors, 75) < 22
    # on the floor: every person's lowest foot point (heels, toes) near Z = 0 (measured -28..61 mm), and the
    # standing person's lower ankle 5-10 cm above it (measured 53-76 mm)
    feet = ref.points[..., 27:33, 2]
    assert (np.nanmin(feet, -1) > -80).all() and (np.nanmin(feet, -1) < 120).all()
    lower_ankle = np.nanmin(ref.points[..., 27:29, 2], -1)  # (F, P)
    standing = np.argmin(np.median(lower_ankle, 0))
    assert 30 < np.median(lower_ankle[:, standing]) < 110
