"""One length per bone for each person: a person's bones do not grow or shrink from frame to frame, but
a lifter's estimate of them does (more so fused with MediaPipe's 3D, whose joints move on their own).
Each bone is kept at the mean of its lengths over the person's frames so far, left and right averaged
(a body is near symmetric, and the far limb is the less sure), and each frame's pose is rebuilt from
the root outwards along its own bone directions. Causal: a live stream has only the frames so far.

What it buys (``docs/live.md``): OpenSim's scaling and inverse kinematics fit a model of rigid
segments, so rigid bones are what they can follow; the demo walker's IK then agrees with our
``.mot`` within 1.2-3.5 degrees RMS at the hips, knees and ankles (2.0-4.2 with the lifter's lengths)."""
from __future__ import annotations

import numpy as np

from ...models.skeletons import Skeleton


class SteadyBones:
    """``__call__(pose)`` -> the pose (J, 3) with each bone at this person's running mean length."""

    def __init__(self, skeleton: Skeleton):
        parents = np.asarray(skeleton.parents)
        depth = [self._depth(parents, j) for j in range(len(parents))]
        self._parents = parents
        self._outward = [j for j in sorted(range(len(parents)), key=depth.__getitem__) if parents[j] >= 0]
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
        child = np.arange(len(self._parents))[self._outward]
        bone = pose[child] - pose[self._parents[child]]
        lengths = np.zeros(len(self._parents))
        lengths[child] = np.linalg.norm(bone, axis=1)
        self._sum += 0.5 * (lengths + lengths[self._mirror])
        self._frames += 1
        steady = self._sum / self._frames
        out = pose.copy()
        for j, b in zip(child, bone):
            out[j] = out[self._parents[j]] + steady[j] * b / max(np.linalg.norm(b), 1e-9)
        return out
