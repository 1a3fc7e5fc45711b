import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from poselift.models import metrics


@pytest.fixture
def poses():
    return np.random.default_rng(0).normal(0, 300, (20, 17, 3))


def test_mpjpe_zero_and_known_offset(poses):
    assert np.allclose(metrics.mpjpe(poses, poses), 0)
    offset = np.array([30.0, -40.0, 0.0])  # 50 mm
    assert np.allclose(metrics.mpjpe(poses + offset, poses), 50.0)


def test_procrustes_recovers_a_similarity(poses):
    rot = Rotation.random(20, random_state=1).as_matrix()
    moved = 1.7 * np.einsum("nij,nkj->nki", rot, poses) + np.array([100.0, -20, 3000])
    assert metrics.mpjpe(moved, poses).mean() > 100
    assert np.abs(metrics.procrustes_align(moved, poses) - poses).max() < 1e-6
    assert metrics.p_mpjpe(moved, poses).max() < 1e-6
    # A reflection is not a rotation: P2 must not undo a mirror image.
    mirrored = poses * np.array([-1.0, 1, 1])
    assert metrics.p_mpjpe(mirrored, poses).mean() > 10


def test_n_mpjpe_undoes_scale_only(poses):
    assert metrics.n_mpjpe(0.8 * poses, poses).max() < 1e-6
    shifted = poses + 10.0
    assert metrics.n_mpjpe(shifted, poses).mean() > 1


def test_pck_and_auc(poses):
    err = np.zeros_like(poses)
    err[:, :8, 0] = 98.0  # 8 joints at 98 mm, 9 exact
    assert np.allclose(metrics.pck(poses + err, poses), 1.0)
    assert np.allclose(metrics.pck(poses + err, poses, threshold=50), 9 / 17)
    auc = metrics.auc(poses + err, poses)
    # Thresholds 0..150 in 5 mm steps: the 98 mm joints count from 100 mm on (11 of 31 thresholds).
    assert np.allclose(auc, (9 + 8 * 11 / 31) / 17)


def test_velocity_and_acceleration_error():
    t = np.arange(100, dtype=float)
    gt = np.zeros((100, 17, 3))
    gt[..., 0] = 5.0 * t[:, None]  # constant velocity: zero acceleration
    assert metrics.acceleration_error(gt, gt) == 0
    jitter = gt.copy()
    jitter[::2, :, 1] += 1.0  # alternating 1 mm: second difference of magnitude 2
    assert np.isclose(metrics.acceleration_error(jitter, gt), 2.0)
    assert np.isclose(metrics.velocity_error(jitter, gt), 1.0)
    assert np.isclose(metrics.trajectory_error(gt[:, 0] + [3.0, 4.0, 0.0], gt[:, 0]), 5.0)


def test_per_action_mean_weights_frames_then_actions():
    rows = [("Walking", 10.0, 100), ("Walking", 40.0, 300), ("Eating", 50.0, 10)]
    per_action, mean = metrics.per_action_mean(rows)
    assert per_action == {"Eating": 50.0, "Walking": 32.5}
    assert mean == pytest.approx(41.25)
