"""A humanoid rig on H36M-17 joints, with VRM 1.0's humanoid bone names (``hips``, ``leftUpperLeg``, ...;
Unity's HumanBodyBones are the same names capitalised), so that humanoid retargeters (Unity's Humanoid
avatar, VRM and VMC apps, Blender's) map it without hand work.

The rest pose is a T-pose facing +Z, Y up, the person's left at +X: legs straight down, trunk and head
straight up, arms out sideways, every rest rotation the identity. Each bone sits on a joint and turns
by the minimal swing that takes its rest direction onto the direction to the joint it points at; the
hips and the chest, whose children leave in several directions, turn by the best rigid fit of all of
them, and a hand or a foot (no joint beyond it) keeps its parent's orientation. The chest's children
(the neck and both shoulders) start where the chest does, at the thorax, so that each can point at its
own joint. The node ``headTop`` (not a humanoid bone) carries the head's tip.

With each node's translation in its parent's frame as well (:meth:`Humanoid.local_translations`),
every joint lands exactly where the pose has it, whatever its bone lengths; the rotations alone
reproduce every bone's direction (and the hips' and chest's best fit)."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .motion import H36M_BONE_MM
from .rotations import rigid_fit, swing, unit
from .skeletons import H36M, Skeleton

# node, the H36M joint it sits on, its parent node, the joint it points at (None: a leaf, or the hips
# and chest, oriented by all their children)
NODES = (
    ("hips", "pelvis", None, None),
    ("spine", "spine", "hips", "thorax"),
    ("chest", "thorax", "spine", None),
    ("neck", "thorax", "chest", "neck_nose"),
    ("head", "neck_nose", "neck", "head_top"),
    ("leftShoulder", "thorax", "chest", "left_shoulder"),
    ("leftUpperArm", "left_shoulder", "leftShoulder", "left_elbow"),
    ("leftLowerArm", "left_elbow", "leftUpperArm", "left_wrist"),
    ("leftHand", "left_wrist", "leftLowerArm", None),
    ("rightShoulder", "thorax", "chest", "right_shoulder"),
    ("rightUpperArm", "right_shoulder", "rightShoulder", "right_elbow"),
    ("rightLowerArm", "right_elbow", "rightUpperArm", "right_wrist"),
    ("rightHand", "right_wrist", "rightLowerArm", None),
    ("leftUpperLeg", "left_hip", "hips", "left_knee"),
    ("leftLowerLeg", "left_knee", "leftUpperLeg", "left_ankle"),
    ("leftFoot", "left_ankle", "leftLowerLeg", None),
    ("rightUpperLeg", "right_hip", "hips", "right_knee"),
    ("rightLowerLeg", "right_knee", "rightUpperLeg", "right_ankle"),
    ("rightFoot", "right_ankle", "rightLowerLeg", None),
    ("headTop", "head_top", "head", None),
)
BONES = tuple(name for name, *_ in NODES[:-1])  # the humanoid bones; headTop is not one


def tpose_direction(skeleton: Skeleton, joint: int) -> np.ndarray:
    """The T-pose direction (Y up, facing +Z, the person's left at +X) of the bone ending at ``joint``."""
    name = skeleton.joints[joint]
    side = 1.0 if name.startswith("left_") else -1.0 if name.startswith("right_") else 0.0
    part = name.split("_", 1)[-1]
    if part in ("shoulder", "elbow", "wrist", "hip"):
        return np.array([side, 0.0, 0.0])
    if part in ("knee", "ankle"):
        return np.array([0.0, -1.0, 0.0])
    if side:  # eyes, ears: up and out
        return unit(np.array([side, 1.0, 0.0]))
    return np.array([0.0, 1.0, 0.0])  # spine, thorax, neck, head


def tpose(lengths: np.ndarray) -> np.ndarray:
    """H36M-17 joint positions (17, 3) of the T-pose with bone ``lengths`` (17,) per child joint, the
    pelvis at the origin."""
    out = np.zeros((H36M.num_joints, 3))
    for child, parent in enumerate(H36M.parents):  # parents come before their children
        if parent >= 0:
            out[child] = out[parent] + lengths[child] * tpose_direction(H36M, child)
    return out


class Humanoid:
    """The rig for one person: ``lengths`` (17,) per child joint in the unit of the poses it is given
    (default: the mean Human3.6M subject's, in metres)."""

    def __init__(self, lengths: np.ndarray | None = None):
        self.lengths = H36M_BONE_MM / 1000.0 if lengths is None else np.asarray(lengths, np.float64)
        self.nodes = tuple(name for name, *_ in NODES)
        self.bones = BONES
        self.parents = tuple(-1 if p is None else self.nodes.index(p) for _, _, p, _ in NODES)
        self.joints = np.array([H36M.index(j) for _, j, _, _ in NODES])
        self.rest = tpose(self.lengths)
        self._targets = [self._pointed_at(n) for n in range(len(NODES))]

    @classmethod
    def fitted(cls, pose: np.ndarray) -> Humanoid:
        """The rig with the median bone lengths of ``pose`` (T, 17, 3) over its frames."""
        parents = np.array(H36M.parents[1:])
        lengths = np.nanmedian(np.linalg.norm(pose[:, 1:] - pose[:, parents], axis=-1), axis=0)
        return cls(np.r_[0.0, lengths])

    def _pointed_at(self, node: int) -> list[int]:
        """The joints whose directions from the node's joint orient it: the one it points at, or for
        the hips and chest the first joint of each child that is not their own."""
        aim = NODES[node][3]
        if aim is not None:
            return [H36M.index(aim)]
        children = [c for c, p in enumerate(self.parents) if p == node]
        if len(children) < 2:
            return []
        own = self.joints[node]
        return [int(self.joints[c]) if self.joints[c] != own else H36M.index(NODES[c][3]) for c in children]

    def rest_offsets(self) -> np.ndarray:
        """Each node's rest translation (N, 3) in its parent's frame (the hips': from the origin)."""
        parent_at = np.where(np.array(self.parents) >= 0, self.joints[np.maximum(self.parents, 0)], -1)
        return np.array([self.rest[j] - (self.rest[p] if p >= 0 else 0.0) for j, p in zip(self.joints, parent_at)])

    def world_rotations(self, pose: np.ndarray) -> np.ndarray:
        """Each node's rotation (T, N, 3, 3) from the T-pose, for poses (T, 17, 3) Y up."""
        out = np.zeros((len(pose), len(self.nodes), 3, 3))
        aimed = [n for n, targets in enumerate(self._targets) if len(targets) == 1]
        start, end = self.joints[aimed], np.array([self._targets[n][0] for n in aimed])
        out[:, aimed] = swing(unit(self.rest[end] - self.rest[start]), unit(pose[:, end] - pose[:, start]))
        for n, targets in enumerate(self._targets):
            j = self.joints[n]
            if len(targets) > 1:
                out[:, n] = rigid_fit(unit(self.rest[targets] - self.rest[j]), unit(pose[:, targets] - pose[:, j, None]))
        for n, targets in enumerate(self._targets):  # parents come first: a leaf copies a final rotation
            if not targets:
                out[:, n] = out[:, self.parents[n]] if self.parents[n] >= 0 else np.eye(3)
        return out

    def local_matrices(self, pose: np.ndarray) -> np.ndarray:
        """Each node's rotation (T, N, 3, 3) relative to its parent."""
        world = self.world_rotations(pose)
        parents = np.array(self.parents)
        parent = np.where((parents >= 0)[None, :, None, None], world[:, np.maximum(parents, 0)], np.eye(3))
        return np.swapaxes(parent, -1, -2) @ world

    def local_rotations(self, pose: np.ndarray) -> np.ndarray:
        """The humanoid bones' rotations (T, B, 4) relative to their parents, quaternions xyzw, for
        poses (T, 17, 3) Y up; consecutive frames on the same hemisphere, so that they interpolate
        the short way."""
        local = self.local_matrices(pose)[:, :len(self.bones)]
        quat = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(len(pose), -1, 4)
        flips = np.cumsum(np.r_[np.zeros((1, quat.shape[1])), np.sum(quat[1:] * quat[:-1], -1) < 0], axis=0)
        return quat * np.where(flips % 2 == 1, -1.0, 1.0)[..., None]

    def local_translations(self, pose: np.ndarray) -> np.ndarray:
        """Each node's translation (T, N, 3) in its parent's frame (the hips': the pelvis itself), which
        puts every joint exactly where ``pose`` (T, 17, 3) has it."""
        world = self.world_rotations(pose)
        out = np.zeros((len(pose), len(self.nodes), 3))
        for n, p in enumerate(self.parents):
            here = pose[:, self.joints[n]]
            out[:, n] = here if p < 0 else np.einsum("tji,tj->ti", world[:, p], here - pose[:, self.joints[p]])
        return out

    def hips_position(self, pose: np.ndarray) -> np.ndarray:
        """Where the hips are (T, 3): the pelvis."""
        return pose[:, H36M.index("pelvis")]
