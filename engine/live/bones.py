"""One length per bone for each person: a person's bones do not grow or shrink from frame to frame, but
a lifter's estimate of them does (more so fused with MediaPipe's 3D, whose joints move on their own).
Each bone is kept at the mean of its lengths over the person's frames so far, left and right averaged
(a body is near symmetric, and the far limb is the less sure), and each frame's pose is rebuilt from
the root outwards along its own bone directions. Causal: a live stream has only the frames so far.

What it buys (``docs/live.md``): OpenSim's scaling and inverse kinematics fit a model of rigid
segments, so rigid bones are what they can follow; the demo walker's IK then agrees with our
``.mot`` within 1.5-2.8 degrees RMS at the hips, knees and ankles (measured when the bones came: 1.3-3.7,
against 2.0-4.2 with the lifter's lengths)."""
from __future__ import annotations

import numpy as np

from ...models.skeletons import Skeleton


class SteadyBones:
    """``__call__(pose)`` -> the pose (J, 3) with each bone at this person's running mean length."""

    def __init__(self, skeleton: Skeleton):
        parents = np.asarray(skeleton.parents)
        depth = np.array([self._depth(parents, j) for j in range(len(parents))])
        self._parents = parents
        self._bones = np.flatnonzero(parents >= 0)  # each bone by its child joint
        self._levels = [np.flatnonzero(depth == d) for d in range(1, depth.max() + 1)]  # root outwards
        self._mirror = np.asarray(skeleton.flip_index)
        self.reset()

    @staticmethod
    def _depth(parents: np.ndarray, joint: int) -> int:
        depth = 0
        while parents[joint] >= 0:
            joint, depth = parents[joint], depth + 1
        return depth

    def reset(self) -> None:
        self._sum = np.zeros(len(self._parents))
        self._frames = 0

    def __call__(self, pose: np.ndarray) -> np.ndarray:
        pose = np.asarray(pose, np.float64)
        if not np.isfinite(pose).all():
            return pose
        bone = np.zeros_like(pose)
        bone[self._bones] = pose[self._bones] - pose[self._parents[self._bones]]
        lengths = np.linalg.norm(bone, axis=1)
        self._sum += 0.5 * (lengths + lengths[self._mirror])
        self._frames += 1
        bone *= (self._sum / self._frames / np.maximum(lengths, 1e-9))[:, None]
        out = pose.copy()
        for level in self._levels:
            out[level] = out[self._parents[level]] + bone[level]
        return out
