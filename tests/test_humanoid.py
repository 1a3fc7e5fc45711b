"""The humanoid rig: its T-pose is the identity, and its rotations and translations put every joint of a
real walk back where it was."""
import numpy as np
from scipy.spatial.transform import Rotation

from conftest import grounded_clip
from poselift.models.humanoid import BONES, Humanoid, tpose
from poselift.models.skeletons import H36M


def forward(humanoid: Humanoid, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Node positions (T, N, 3) from local rotations (T, N, 3, 3) and translations (T, N, 3)."""
    t, n = rotations.shape[:2]
    world_rot, world_pos = np.zeros((t, n, 3, 3)), np.zeros((t, n, 3))
    for i, p in enumerate(humanoid.parents):
        if p < 0:
            world_rot[:, i], world_pos[:, i] = rotations[:, i], translations[:, i]
        else:
            world_rot[:, i] = world_rot[:, p] @ rotations[:, i]
            world_pos[:, i] = world_pos[:, p] + np.einsum("tij,tj->ti", world_rot[:, p], translations[:, i])
    return world_pos


def test_the_t_pose_is_the_rest_and_a_real_walk_comes_back_joint_for_joint():
    _, world = grounded_clip()
    pose = world / 1000.0
    humanoid = Humanoid.fitted(pose)
    assert {"hips", "spine", "head", "leftUpperLeg", "rightFoot", "leftHand"} <= set(BONES)
    rest = tpose(humanoid.lengths)[None]
    assert np.allclose(humanoid.local_rotations(rest)[..., 3], 1.0)  # identity quaternions at rest
    assert np.allclose(humanoid.local_translations(rest)[0, 1:], humanoid.rest_offsets()[1:])
    assert rest[0, H36M.index("left_hip"), 0] > 0 and rest[0, H36M.index("left_ankle"), 1] < -0.8  # left at +X
    local = humanoid.local_matrices(pose)
    placed = forward(humanoid, local, humanoid.local_translations(pose))
    assert np.abs(placed - pose[:, humanoid.joints]).max() < 1e-9
    quat = humanoid.local_rotations(pose)
    assert np.all(np.sum(quat[1:] * quat[:-1], -1) >= 0)  # the short way between frames
    assert np.allclose(Rotation.from_quat(quat.reshape(-1, 4)).as_matrix().reshape(local[:, :len(BONES)].shape),
                       local[:, :len(BONES)], atol=1e-9)
    # the rotations alone (rest offsets) still point every bone the way the walk does
    bone = humanoid.nodes.index("leftLowerLeg")
    alone = forward(humanoid, local, np.broadcast_to(humanoid.rest_offsets(), local.shape[:2] + (3,)))
    shin = alone[:, bone + 1] - alone[:, bone]
    walk = pose[:, H36M.index("left_ankle")] - pose[:, H36M.index("left_knee")]
    cos = np.sum(shin * walk, -1) / np.linalg.norm(shin, axis=-1) / np.linalg.norm(walk, axis=-1)
    assert cos.min() > 1 - 1e-9
