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


def run(repair: SwapRepair, kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = [repair(k, np.ones(17)) for k in kp]
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
    repair = SwapRepair(max_frames=10)
    kp, repaired = run(repair, seen)
    assert repaired[30:40, [L, R]].all() and np.allclose(kp[:40], truth[:40])
    assert not repaired[40:].any() and np.allclose(kp[40:], seen[40:])
    repair.reset()
    kp, repaired = run(repair, seen[50:])  # no history: nothing to compare with
    assert not repaired.any()
