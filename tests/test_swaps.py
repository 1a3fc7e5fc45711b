"""The left/right swap repair in front of the lifter."""
import numpy as np

from poselift.engine.live.swaps import SwapRepair
from poselift.models.skeletons import H36M

L, R = H36M.index("left_ankle"), H36M.index("right_ankle")


def walking(frames: int = 60, stride: float = 40.0, apart: float = 0.0) -> np.ndarray:
    """A 2D side view of walking (pixels): the ankles swing past each other, crossing smoothly
    (unless they are held ``apart``)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(-100, 100, (17, 2))
    base[0] = 0
    t = np.arange(frames)
    kp = np.repeat(base[None], frames, 0) + np.array([320.0, 240.0])
    swing = stride * np.sin(2 * np.pi * t / 30)
    kp[:, L, 0] = 320 + apart + swing
    kp[:, R, 0] = 320 - apart - swing
    kp[:, [L, R], 1] = 400
    return kp + rng.normal(0, 0.5, kp.shape)


def run(repair: SwapRepair, kp: np.ndarray, fps: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    out = [repair(k, np.ones(17), i / fps) for i, k in enumerate(kp)]
    return np.array([o[0] for o in out]), np.array([o[2] for o in out])


def test_a_few_swapped_frames_are_swapped_back():
    truth = walking()
    seen = truth.copy()
    seen[34:40, [L, R]] = truth[34:40, [R, L]]  # MediaPipe labels the ankles the other way for 6 frames
    kp, repaired = run(SwapRepair(), seen)
    assert np.allclose(kp, truth)
    assert repaired[34:40, [L, R]].all() and repaired.sum() == 12


def test_a_smooth_crossing_is_left_alone():
    truth = walking(stride=120.0)  # the feet pass each other every 15 frames
    kp, repaired = run(SwapRepair(), truth)
    assert not repaired.any() and np.allclose(kp, truth)


def test_a_long_swap_is_given_up_and_reset_starts_afresh():
    truth = walking(120, stride=10.0, apart=60.0)
    seen = truth.copy()
    seen[30:, [L, R]] = truth[30:, [R, L]]  # from frame 30 on, for good
    repair = SwapRepair(max_s=9.5 / 30)  # ten frames at 30 fps
    kp, repaired = run(repair, seen)
    assert repaired[30:40, [L, R]].all() and np.allclose(kp[:40], truth[:40])
    assert not repaired[40:].any() and np.allclose(kp[40:], seen[40:])
    repair.reset()
    kp, repaired = run(repair, seen[50:])  # no history: nothing to compare with
    assert not repaired.any()


def test_the_longest_swap_repaired_is_a_time_not_a_number_of_frames():
    truth = walking(240, stride=10.0, apart=60.0)
    seen = truth.copy()
    seen[100:160, [L, R]] = truth[100:160, [R, L]]  # half a second at 120 fps: 60 frames
    kp, repaired = run(SwapRepair(), seen, fps=120.0)
    assert repaired[100:160, [L, R]].all() and repaired.sum() == 120 and np.allclose(kp, truth)


KNEES = [H36M.index("left_knee"), H36M.index("right_knee")]
SWAPPABLE = [(H36M.index(f"left_{n}"), H36M.index(f"right_{n}")) for n in ("knee", "ankle", "elbow", "wrist")]


def test_a_leg_swapped_from_the_knee_down_is_swapped_back_whole():
    truth = walking(apart=60.0)
    truth[:, KNEES, 0] += [[40.0, -40.0]]  # the knees apart as well: each shin as long as before
    seen = truth.copy()
    seen[34:40][:, [*KNEES, L, R]] = truth[34:40][:, [KNEES[1], KNEES[0], R, L]]
    kp, repaired = run(SwapRepair(), seen)
    assert np.allclose(kp, truth)
    assert repaired[34:40][:, [*KNEES, L, R]].all() and repaired.sum() == 24


def body_with_feet_at(a: float) -> np.ndarray:
    """A 2D body (pixels, y down) with its knees 80 px apart and its ankles at x = +-a about the pelvis."""
    kp = np.zeros((17, 2))
    for name, (x, y) in {"pelvis": (0, 0), "spine": (0, -50), "thorax": (0, -100), "neck_nose": (0, -130),
                         "head_top": (0, -160), "left_hip": (20, 0), "left_knee": (40, 100), "left_ankle": (a, 200),
                         "left_shoulder": (40, -100), "left_elbow": (50, -50), "left_wrist": (55, 0)}.items():
        kp[H36M.index(name)] = x, y
        if name.startswith("left_"):
            kp[H36M.index(name.replace("left_", "right_"))] = -x, y
    return kp + [320.0, 200.0]


def test_feet_that_meet_and_part_on_their_own_sides_keep_their_labels():
    # The feet come together and part again, each on its own side: where they were heading says they
    # crossed, but the other way round each shin would stretch (MediaPipe's labels were right).
    kp = np.array([body_with_feet_at(a) for a in (90, 50, 15, 1, 15, 50, 90)])
    out, repaired = run(SwapRepair(), kp)
    assert not repaired.any() and np.allclose(out, kp)


def test_every_repair_swaps_a_limb_from_one_joint_to_its_end():
    rng = np.random.default_rng(3)
    truth = walking(300, stride=30.0, apart=30.0) + rng.normal(0, 4.0, (300, 17, 2))
    seen = truth.copy()
    for start in range(10, 290, 20):  # a random pair swapped for a few frames, every 20 frames
        left, right = SWAPPABLE[rng.integers(len(SWAPPABLE))]
        seen[start:start + 4, [left, right]] = truth[start:start + 4, [right, left]]
    _, repaired = run(SwapRepair(), seen)
    assert repaired.any()
    for limb in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist")):
        joints = repaired[:, [H36M.index(f"left_{n}") for n in limb]]
        # once a joint of the limb is swapped, every joint below it is too
        assert (np.maximum.accumulate(joints, axis=1) == joints).all()
