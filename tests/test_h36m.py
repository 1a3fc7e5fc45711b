import json
import shutil

import numpy as np
import pytest
import torch

from conftest import DATA, needs_h36m
from poselift.models import h36m
from poselift.models.errors import DataError


@needs_h36m
def test_projection_lands_on_the_detections(s9):
    """The 3D, moved into each camera and projected with its distortion, meets the SH detections."""
    with_det = [s for s in s9 if s.sh16 is not None]
    assert len(with_det) >= 4 * 28
    err = np.concatenate([np.linalg.norm(s.detections - s.pose2d, axis=-1) for s in with_det])
    assert np.median(err) < 20
    assert (np.median(err, axis=0) < 20).all()
    # Without the camera's distortion the same comparison is measurably worse.
    seq = with_det[0]
    plain = seq.pose3d[..., :2] / seq.pose3d[..., 2:] * seq.camera.f + seq.camera.c
    assert np.abs(plain - seq.pose2d).max() > 1


@needs_h36m
def test_bone_lengths_are_constant_per_sequence(s9):
    from poselift.models.skeletons import H36M
    for seq in s9[::8]:
        bones = np.stack([np.linalg.norm(seq.pose3d[:, c] - seq.pose3d[:, p], axis=-1) for p, c in H36M.bones], 1)
        assert bones.std(axis=0).max() < 1.0, seq.name
        assert (bones.mean(axis=0) > 50).all(), seq.name  # real limbs, not collapsed joints


@needs_h36m
def test_protocol_split_and_actions(s9):
    assert {s.camera_id for s in s9} == {"54138969", "55011271", "58860488", "60457274"}
    assert {s.action for s in s9} == set(h36m.ACTIONS)
    assert all(s.pose3d[:, :, 2].min() > 1000 for s in s9)  # in front of the camera, in mm
    assert not set(h36m.TRAIN_SUBJECTS) & set(h36m.TEST_SUBJECTS)


@needs_h36m
def test_sh_trunk_weights_match_a_refit():
    """The shipped SH -> H36M trunk weights fit the training subjects as well as a refit does. (The
    weights themselves are not compared: SH's pelvis, spine and thorax are nearly collinear, so quite
    different weights give the same fit.)"""
    train = [s for s in h36m.load_sequences(h36m.TRAIN_SUBJECTS, DATA) if s.sh16 is not None]
    fitted = h36m.fit_sh_trunk_weights(train)
    sh, gt = np.concatenate([s.sh16 for s in train]), np.concatenate([s.pose2d for s in train])
    targets = list(h36m.SH_TRUNK_TARGETS)

    def rms_px(weights):
        return np.sqrt(((h36m.sh_to_h36m(sh, weights)[:, targets] - gt[:, targets]) ** 2).sum(-1).mean(0))

    assert (rms_px(h36m.SH_TRUNK_WEIGHTS) <= 1.01 * rms_px(fitted)).all()
    assert np.allclose(h36m.SH_TRUNK_WEIGHTS.sum(axis=1), 1.0, atol=1e-3)


@needs_h36m
def test_training_windows(s9):
    from poselift.models.skeletons import H36M, flip_pose
    from poselift.models.windows import Augment, WindowSampler
    sampler = WindowSampler(s9[:8], frames=27)
    gen = torch.Generator().manual_seed(0)
    kp, conf, target = sampler.sample(64, gen, None)
    assert kp.shape == (64, 27, 17, 2) and conf.shape == (64, 27, 17) and target.shape == (64, 1, 17, 3)
    assert torch.allclose(target[..., 0, :], torch.zeros(3))  # root-relative
    # Dense windows: the targets are the 3D of the window's last frames, in order.
    dense = WindowSampler(s9[:1], frames=30, outputs=4)
    _, _, targets = dense.sample(8, gen, None)
    pose = torch.from_numpy(s9[0].pose3d - s9[0].pose3d[:, :1])
    for window in targets:
        last = int((pose - window[-1]).norm(dim=-1).mean(-1).argmin())
        expect = pose[[max(0, i) for i in range(last - 3, last + 1)]]
        assert torch.allclose(window, expect, atol=1e-3)
    kp_f, conf_f, target_f = sampler.sample(256, torch.Generator().manual_seed(1), Augment(flip=1.0, dropout=0.03))
    kp_n, conf_n, target_n = sampler.sample(256, torch.Generator().manual_seed(1), Augment(flip=0.0, dropout=0.03))
    assert torch.isfinite(kp_f).all() and (conf_f >= 0).all() and (conf_f <= 1).all()
    assert torch.allclose(target_f, flip_pose(target_n, H36M))
    assert (conf_f == 0).any() and (conf_f < 0.6).float().mean() < 0.1  # some dropped, most confident


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist"):
        h36m.data_root(tmp_path / "nope")


@needs_h36m
def test_missing_file_and_wrong_shape(tmp_path):
    shutil.copy(DATA / "cameras.json", tmp_path)
    with pytest.raises(DataError, match="poses_3d.npz is missing"):
        h36m.data_root(tmp_path)
    np.savez(tmp_path / "poses_3d.npz", **{"S9/Walking": np.zeros((10, 16, 3), np.float32)})
    np.savez(tmp_path / "detections_sh.npz", x=np.zeros(1))
    with pytest.raises(DataError, match=r"has shape \(10, 16, 3\), expected \(N, 17, 3\)"):
        h36m.load_sequences(["S9"], tmp_path)
    (tmp_path / "cameras.json").write_text(json.dumps({"S9": {"1": {"f": [1, 1]}}}))
    with pytest.raises(DataError, match="camera file .*cameras.json"):
        h36m.load_sequences(["S9"], tmp_path)
