import numpy as np
import pytest

from poselift.engine.live.fusion import FADE_S, WEIGHTINGS, Fusion
from poselift.models.rotations import similarity_align
from poselift.models.skeletons import H36M, MEDIAPIPE, convert

SIGMA = np.full(H36M.num_joints, 60.0)
NONE = np.zeros(H36M.num_joints, bool)
DEPTH = 3000.0  # mm from the camera


def _turn(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


@pytest.fixture
def scene():
    """A MediaPipe world pose (33, 3) mm, far from flat, and the lift it maps to: turned, scaled, moved."""
    mp = np.random.default_rng(1).normal(0.0, 1.0, (MEDIAPIPE.num_joints, 3)) * [250.0, 450.0, 200.0]
    lift = 1.1 * convert(mp, MEDIAPIPE.name, H36M.name) @ _turn(25.0) + [40.0, -30.0, 20.0]
    lift -= lift[0]
    rays = lift[:, :2] / (lift[:, 2:] + DEPTH)
    return mp, lift, rays


def test_similarity_finds_the_motion_and_tells_a_mirror_image(scene):
    mp, lift, _ = scene
    pose = convert(mp, MEDIAPIPE.name, H36M.name)
    aligned, mirrored = similarity_align(pose, lift, np.ones(len(lift)))
    assert np.allclose(aligned, lift, atol=1e-6) and not mirrored
    assert similarity_align(pose * [1.0, 1.0, -1.0], lift, np.ones(len(lift)))[1]


def test_one_pose_is_aligned_as_a_batch_of_them_is():
    """One pose takes the rotation in plain floats, a batch NumPy's SVD: the same fit, mirror images,
    nearly flat and flat poses included."""
    rng = np.random.default_rng(3)
    src = rng.normal(0.0, 300.0, (40, 17, 3))
    src[30:35, :, 2] *= 1e-4  # nearly flat
    src[35:38, :, 1:] = 0.0  # on one line
    turns = np.linalg.qr(rng.normal(size=(40, 3, 3)))[0]
    turns[:, :, 0] *= np.sign(np.linalg.det(turns))[:, None]  # proper rotations
    dst = 1.3 * src @ turns + rng.normal(0.0, 40.0, (40, 17, 3))
    dst[::4] *= [1.0, 1.0, -1.0]  # mirror images
    w = rng.uniform(0.1, 1.0, (40, 17))
    batch, batch_mirrored = similarity_align(src, dst, w)
    for i in range(len(src)):
        one, mirrored = similarity_align(src[i], dst[i], w[i])
        assert np.allclose(one, batch[i], atol=1e-6) and mirrored == batch_mirrored[i]
    assert batch_mirrored[:30:4].all() and not batch_mirrored[1:30:4].any()  # a flat pose has no telling mirror


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_mediapipe_equal_to_the_lift_returns_the_lift(scene, weighting):
    mp, lift, rays = scene
    fused, weight = Fusion(weighting)(lift, SIGMA, mp, rays, NONE, 0.0)
    assert np.allclose(fused, lift, atol=1e-6)
    assert (weight > 0).all() and (weight < 1).all()


def _disagreeing(mp: np.ndarray) -> np.ndarray:
    """MediaPipe's pose with every landmark off in depth by up to ~8 cm."""
    return mp + np.random.default_rng(2).normal(0.0, 40.0, mp.shape) * [0.2, 0.2, 1.0]


@pytest.mark.parametrize("missing", [None, np.full((33, 3), np.nan), np.zeros((33, 3))])
def test_missing_mediapipe_3d_fades_to_the_lift_without_a_jump(scene, missing):
    mp, lift, rays = scene
    fusion, dt = Fusion(), 1 / 30
    for i in range(10):
        fused, _ = fusion(lift, SIGMA, _disagreeing(mp), rays, NONE, i * dt)
    correction = np.linalg.norm(fused - lift, axis=1).max()
    assert correction > 5.0
    out = [fused]
    for i in range(10, 30):
        out.append(fusion(lift, SIGMA, missing, rays, NONE, i * dt)[0])
    steps = np.linalg.norm(np.diff(out, axis=0), axis=-1).max(axis=1)
    assert steps.max() <= correction * dt / FADE_S + 1e-6  # no frame moves more than the fade allows
    assert np.allclose(out[-1], lift)  # after the fade: the lift alone
    assert not fusion(lift, SIGMA, missing, rays, NONE, 30 * dt)[1].any()
    back = [out[-1]] + [fusion(lift, SIGMA, _disagreeing(mp), rays, NONE, i * dt)[0] for i in range(31, 40)]
    assert np.linalg.norm(np.diff(back, axis=0), axis=-1).max() <= 1.5 * correction * dt / FADE_S  # and back in


def test_a_front_back_flipped_mediapipe_pose_is_not_fused(scene):
    mp, lift, rays = scene
    fused, weight = Fusion("robust")(lift, SIGMA, _disagreeing(mp) * [1.0, 1.0, -1.0], rays, NONE, 0.0)
    assert np.allclose(fused, lift) and not weight.any()


def test_an_outlier_joint_is_left_out_and_the_rest_fused(scene):
    mp, lift, rays = scene
    far = mp.copy()
    far[MEDIAPIPE.index("left_wrist")] += [0.0, 0.0, 600.0]
    wrist = H36M.index("left_wrist")
    fused, weight = Fusion("robust")(lift, SIGMA, far, rays, NONE, 0.0)
    assert weight[wrist] == 0 and np.delete(weight, wrist).min() > 0
    assert np.allclose(fused, lift, atol=1e-6)  # the others agree, once the wrist no longer pulls the alignment
    naive, _ = Fusion("fixed")(lift, SIGMA, far, rays, NONE, 0.0)
    assert np.linalg.norm(naive[wrist] - lift[wrist]) > 100


def test_3d_swaps_follow_the_2d_swap_repair(scene):
    mp, lift, rays = scene
    swapped = mp.copy()
    for name in ("knee", "wrist"):
        left, right = MEDIAPIPE.index(f"left_{name}"), MEDIAPIPE.index(f"right_{name}")
        swapped[[left, right]] = swapped[[right, left]]
    repaired = np.isin(np.arange(H36M.num_joints), [H36M.index(f"{s}_{n}") for s in ("left", "right")
                                                    for n in ("knee", "wrist")])
    fused, _ = Fusion("fixed")(lift, SIGMA, swapped, rays, repaired, 0.0)
    assert np.allclose(fused, lift, atol=1e-6)
    unrepaired, _ = Fusion("fixed")(lift, SIGMA, swapped, rays, NONE, 0.0)
    assert not np.allclose(unrepaired, lift, atol=1.0)


def test_mediapipes_frame_to_frame_jitter_is_not_passed_on(scene):
    mp, lift, rays = scene
    biased = _disagreeing(mp)  # a steady disagreement, and jitter on top of it frame by frame
    jitter = np.random.default_rng(3).normal(0.0, 15.0, (60, *mp.shape))
    fusion = Fusion("fixed")
    fused = np.array([fusion(lift, SIGMA, biased + jitter[i], rays, NONE, i / 30)[0] for i in range(60)])
    once = np.array([Fusion("fixed")(lift, SIGMA, biased + jitter[i], rays, NONE, 0.0)[0] for i in range(60)])
    accel = lambda poses: np.linalg.norm(np.diff(poses[20:], 2, axis=0), axis=-1).mean()  # noqa: E731
    assert accel(fused) < 0.3 * accel(once)  # frame by frame on its own, each frame's correction would jitter
    assert np.linalg.norm(fused[-20:].mean(0) - once[-20:].mean(0), axis=1).max() < 5.0  # the bias still comes through


def test_a_lift_without_a_pose_is_passed_on_as_it_is(scene):
    mp, lift, rays = scene
    fused, weight = Fusion()(np.full_like(lift, np.nan), SIGMA, mp, rays, NONE, 0.0)
    assert np.isnan(fused).all() and not weight.any()


def test_the_hips_move_together_so_the_pelvis_keeps_the_lifts_width(scene):
    mp, lift, rays = scene
    narrow = mp.copy()
    for side, sign in (("left", 1.0), ("right", -1.0)):  # MediaPipe's hips 3 cm closer together, each side
        narrow[MEDIAPIPE.index(f"{side}_hip")] += sign * 30.0 * np.array([1.0, 0.0, 0.0]) @ _turn(-25.0).T
    left, right = H36M.index("left_hip"), H36M.index("right_hip")
    width = np.linalg.norm(lift[left] - lift[right])
    fused, _ = Fusion("fixed")(lift, SIGMA, narrow, rays, NONE, 0.0)
    assert abs(np.linalg.norm(fused[left] - fused[right]) - width) < 2.0  # mm (moved apart: 20 mm narrower)
    assert np.abs(convert(narrow, MEDIAPIPE.name, H36M.name) - convert(mp, MEDIAPIPE.name, H36M.name))[[left, right]].max() > 10


def test_bench_times_the_fusion_right_after_the_lifter_step(random_weights):
    from poselift.engine.live.bench import bench_fusion
    from poselift.models.checkpoint import load_weights
    rows = bench_fusion(load_weights(random_weights), steps=90)
    names = [r["stage"] for r in rows]
    assert names[0].startswith("lifter step") and len(rows) == 1 + 2 * len(WEIGHTINGS)
    for w in WEIGHTINGS:
        fused = rows[names.index(f"lifter + fusion step ({w})")]
        assert 20 <= fused["runs"] <= 30 and fused["x_lifter_step"] > 1.0  # a third of the steps each, after the warm-up
