"""Training windows from Human3.6M: strided, resampled to random frame rates, flipped, and 2D inputs
perturbed the way a real detector errs.

All sequences of a split are packed into flat arrays; a batch is a vectorised gather, so sampling
costs little next to the network step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .h36m import FPS, Sequence
from .skeletons import H36M, flip_pose


@dataclass(frozen=True)
class Augment:
    """Augmentation strengths (all probabilities per sample unless said otherwise)."""
    detections: float = 0.4  # use the SH detections instead of projected ground truth
    fps_range: tuple[float, float] = (25.0, 60.0)
    native_fps: float = 0.3  # keep the data's own 50 fps
    flip: float = 0.5
    # Off by default: per-joint corruption costs clean accuracy quickly (3 % outliers and 3 % dropped
    # joints: +9 mm validation P1 after 500 steps, see docs/lifter_tcn81_notes.md).
    noise: float = 0.0  # Gaussian 2D noise, fraction of the pose's 2D scale
    outlier: float = 0.0  # per joint: a detector miss, displaced by up to 40 % of the scale
    dropout: float = 0.0  # per joint: lost entirely (confidence 0, position meaningless)
    hip_spread: float = 0.08  # hip width and height jitter, fraction (MediaPipe's hips differ from H36M)
    # Ground-truth-2D windows only: each bone group's length scaled by exp(N(0, bone_scale)), the 3D
    # rebuilt along the skeleton and projected again, so the lifter meets new body proportions.
    bone_scale: float = 0.0


class WindowSampler:
    def __init__(self, sequences: list[Sequence], frames: int, stride: int = 1, outputs: int = 1):
        """``frames`` of 2D reach back from each window's end; the 3D of its last ``outputs`` frames
        are the targets (more than one when the lifter trains dense, one output per frame)."""
        self.frames = frames
        self.outputs = outputs
        lengths = np.array([len(s) for s in sequences])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.lengths = lengths
        self.pose3d = np.concatenate([s.pose3d - s.pose3d[:, :1] for s in sequences]).astype(np.float32)
        self.root3d = np.concatenate([s.pose3d[:, 0] for s in sequences]).astype(np.float32)
        norm = [s.camera.normalize(s.pose2d) for s in sequences]
        self.gt2d = np.concatenate(norm).astype(np.float32)
        det = [s.camera.normalize(s.detections) if s.sh16 is not None else n for s, n in zip(sequences, norm)]
        self.det2d = np.concatenate(det).astype(np.float32)
        self.has_det = np.concatenate([np.full(len(s), s.sh16 is not None) for s in sequences])
        seq_id = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
        self.anchors = np.arange(len(seq_id))[::stride]
        self.seq_of = seq_id

    def __len__(self) -> int:
        return len(self.anchors)

    def sample(self, batch: int, rng: np.random.Generator, aug: Augment | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns 2D (B, T, J, 2) normalised image coords, confidence (B, T, J), 3D targets (B, L, J, 3)
        for the last L = ``outputs`` frames."""
        end = self.anchors[rng.integers(len(self.anchors), size=batch)]
        seq = self.seq_of[end]
        first = self.starts[seq]
        # Window frame times (in source frames) reaching back from `end` at the sampled frame rate.
        fps = np.full(batch, FPS)
        if aug is not None:
            lo, hi = aug.fps_range
            resample = rng.random(batch) >= aug.native_fps
            fps[resample] = rng.uniform(lo, hi, size=resample.sum())
        back = np.arange(self.frames - 1, -1, -1)[None, :] * (FPS / fps)[:, None]
        t = np.maximum(end[:, None] - back, first[:, None])  # before the start: repeat the first frame
        i0 = np.floor(t).astype(np.int64)
        i1 = np.minimum(i0 + 1, end[:, None])
        a = (t - i0)[..., None, None].astype(np.float32)

        src = self.gt2d
        use_det = np.zeros(batch, bool)
        if aug is not None:
            use_det = (rng.random(batch) < aug.detections) & self.has_det[end]
        kp = _lerp(src, i0, i1, a)
        if use_det.any():
            kp[use_det] = _lerp(self.det2d, i0[use_det], i1[use_det], a[use_det])
        l = self.outputs
        target = _lerp(self.pose3d, i0[:, -l:], i1[:, -l:], a[:, -l:])
        conf = np.ones(kp.shape[:3], np.float32)
        if aug is not None and aug.bone_scale > 0 and not use_det.all():
            gt = ~use_det
            rel = _lerp(self.pose3d, i0[gt], i1[gt], a[gt])
            root = _lerp(self.root3d, i0[gt], i1[gt], a[gt, ..., 0])
            factors = np.exp(aug.bone_scale * rng.standard_normal((int(gt.sum()), len(BONE_GROUPS)), dtype=np.float32))
            kp[gt], target[gt] = rescale_bones(kp[gt], rel, root[:, :, None], factors, l)
        if aug is not None:
            kp, conf, target = _perturb(kp, conf, target, use_det, rng, aug)
        return kp, conf, target


def _lerp(frames: np.ndarray, i0: np.ndarray, i1: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``frames`` at fractional times between the frames ``i0`` and ``i1`` (weight ``a`` on ``i1``)."""
    return (1 - a) * frames[i0] + a * frames[i1]


# Bone groups whose lengths vary together (left and right alike), by child joint.
BONE_GROUPS = (("right_hip", "left_hip"), ("right_knee", "left_knee"), ("right_ankle", "left_ankle"), ("spine",),
               ("thorax",), ("neck_nose",), ("head_top",), ("left_shoulder", "right_shoulder"),
               ("left_elbow", "right_elbow"), ("left_wrist", "right_wrist"))
_GROUP_OF = {H36M.index(name): g for g, names in enumerate(BONE_GROUPS) for name in names}


def rescale_bones(kp: np.ndarray, rel: np.ndarray, root: np.ndarray, factors: np.ndarray, outputs: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a person with other bone lengths: 2D ``kp`` (B, T, J, 2) in normalised image
    coordinates with its root-relative 3D ``rel`` (B, T, J, 3) and root ``root`` (B, T, 1, 3) in the
    camera frame (mm), each bone group's length times ``factors`` (B, groups). The 2D moves by the
    change of the pinhole projection, which keeps whatever the original projection had besides.
    Returns the new 2D and the new 3D of the last ``outputs`` frames."""
    new = np.zeros_like(rel)
    for j, parent in enumerate(H36M.parents):
        if parent >= 0:
            f = factors[:, _GROUP_OF[j]][:, None, None]
            new[:, :, j] = new[:, :, parent] + f * (rel[:, :, j] - rel[:, :, parent])

    def project(p: np.ndarray) -> np.ndarray:
        return p[..., :2] / p[..., 2:]

    return kp + project(new + root) - project(rel + root), new[:, -outputs:]


def _perturb(kp: np.ndarray, conf: np.ndarray, target: np.ndarray, use_det: np.ndarray,
             rng: np.random.Generator, aug: Augment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, t, j, _ = kp.shape
    flip = rng.random(b) < aug.flip
    kp[flip] = flip_pose(kp[flip], H36M)
    target[flip] = flip_pose(target[flip], H36M)

    pelvis = kp[:, :, :1]
    scale = np.sqrt(((kp - pelvis) ** 2).sum(-1).mean(-1))[..., None, None]  # (B, T, 1, 1)
    hips = [H36M.index("left_hip"), H36M.index("right_hip")]
    spread = 1 + aug.hip_spread * rng.standard_normal((b, 1, 1, 1), dtype=np.float32)
    lift = aug.hip_spread * rng.standard_normal((b, 1, 1, 1), dtype=np.float32) * scale
    kp[:, :, hips] = pelvis + (kp[:, :, hips] - pelvis) * spread
    kp[:, :, hips, 1] += lift[..., 0]

    clean = ~use_det[:, None, None, None]
    noise_level = aug.noise * rng.random((b, 1, 1, 1), dtype=np.float32)
    kp += (clean * noise_level * scale) * rng.standard_normal(kp.shape, dtype=np.float32)

    conf = 0.8 + 0.2 * rng.random(conf.shape, dtype=np.float32)
    outlier = rng.random((b, t, j)) < aug.outlier
    shift = (0.8 * scale) * (rng.random(kp.shape, dtype=np.float32) - 0.5)
    kp = np.where(outlier[..., None], kp + shift, kp)
    conf = np.where(outlier, 0.6 * rng.random(conf.shape, dtype=np.float32), conf)
    dropped = rng.random((b, t, j)) < aug.dropout
    kp = np.where(dropped[..., None], kp[:, :, :1] + shift, kp)
    conf = np.where(dropped, 0.0, conf).astype(np.float32)
    return kp, conf, target
