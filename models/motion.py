"""World motion capture as H36M-17 clips, whatever lab it comes from, and the body proportions that
make other mocap look like the Human3.6M skeleton the lifter's outputs are scored against.

A :class:`MotionClip` is a person moving in a room (world millimetres, Z up, floor near 0): the
virtual cameras of ``models.virtual_cameras`` film it from anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .skeletons import H36M


@dataclass
class MotionClip:
    name: str  # e.g. "S1/Walking 1" or "dataset-2_walk_normal_001"
    action: str  # what the evaluation groups by: an H36M action or a Bandai content
    world: np.ndarray  # (N, 17, 3) H36M-17, world mm, Z up
    fps: float

    def __len__(self) -> int:
        return len(self.world)


# Mean bone lengths (mm) of the Human3.6M training subjects S1 S5 S6 S7 S8, per child joint in H36M-17
# order (0 for the pelvis); ``bone_lengths`` over those subjects recomputes them and a test checks they still agree.
H36M_BONE_MM = np.array([0.0, 134.5, 449.9, 445.9, 134.5, 449.9, 445.9, 239.3, 255.4, 116.3, 115.0,
                         149.3, 280.4, 249.6, 149.3, 280.4, 249.6])
# H36M's neck/nose joint relative to the thorax -> head-top segment d (length |d|), from the same
# subjects by least squares: thorax + NOSE_ALONG * d + NOSE_FORWARD * |d| * (torso's forward unit).
NOSE_ALONG, NOSE_FORWARD = 0.423, 0.366


def bone_lengths(pose: np.ndarray) -> np.ndarray:
    """Mean length of each bone over the frames of ``pose`` (..., N, 17, 3), per child joint (17,)."""
    parents = np.array(H36M.parents)
    out = np.linalg.norm(pose[..., 1:, :] - pose[..., parents[1:], :], axis=-1)
    return np.r_[0.0, out.reshape(-1, 16).mean(0)]


def torso_forward(pose: np.ndarray) -> np.ndarray:
    """Unit vector (..., 3) the torso faces: left shoulder minus right shoulder, crossed with the
    pelvis-to-thorax direction."""
    h = H36M.index
    lateral = pose[..., h("left_shoulder"), :] - pose[..., h("right_shoulder"), :]
    fwd = np.cross(lateral, pose[..., h("thorax"), :] - pose[..., h("pelvis"), :])
    return fwd / np.linalg.norm(fwd, axis=-1, keepdims=True).clip(1e-6)


def fit_nose_offset(poses: np.ndarray) -> tuple[float, float]:
    """Least-squares (NOSE_ALONG, NOSE_FORWARD) over H36M poses (N, 17, 3)."""
    h = H36M.index
    thorax = poses[:, h("thorax")]
    d = poses[:, h("head_top")] - thorax
    fwd = torso_forward(poses) * np.linalg.norm(d, axis=-1, keepdims=True)
    a = np.stack([d, fwd], -1).reshape(-1, 2)
    w, *_ = np.linalg.lstsq(a, (poses[:, h("neck_nose")] - thorax).reshape(-1), rcond=None)
    return float(w[0]), float(w[1])


def place_nose(pose: np.ndarray) -> np.ndarray:
    """H36M's neck/nose joint from the thorax, the head top and the torso's facing, for mocap that
    has no face marker (its "head" joint is the base of the skull, on the neck's axis)."""
    h = H36M.index
    thorax = pose[..., h("thorax"), :]
    d = pose[..., h("head_top"), :] - thorax
    return thorax + NOSE_ALONG * d + NOSE_FORWARD * np.linalg.norm(d, axis=-1, keepdims=True) * torso_forward(pose)


def scale_bones(rel: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Root-relative poses (..., 17, 3) with each bone (per child joint) ``factors`` (..., 17) times
    as long, directions kept: the skeleton is rebuilt from the pelvis outwards."""
    bones = rel[..., 1:, :] - rel[..., list(H36M.parents[1:]), :]
    bones = bones * factors[..., 1:, None]
    out = [torch.zeros_like(rel[..., 0, :])]
    for j, parent in enumerate(H36M.parents[1:], start=1):
        out.append(out[parent] + bones[..., j - 1, :])
    return torch.stack(out, dim=-2)


def to_h36m_proportions(world: np.ndarray) -> np.ndarray:
    """A clip (N, 17, 3) with the H36M training subjects' mean bone lengths, directions kept."""
    lengths = bone_lengths(world)
    factors = H36M_BONE_MM / np.where(lengths > 0, lengths, 1.0)
    rel = torch.from_numpy(world - world[:, :1])
    out = scale_bones(rel, torch.from_numpy(factors).expand(len(world), -1)).numpy()
    return (out + world[:, :1]).astype(np.float32)
