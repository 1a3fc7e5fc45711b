"""Training windows, built on the training device: Human3.6M through its real cameras (ground-truth 2D
or the Stacked Hourglass detections) and world mocap (Human3.6M, Bandai) through virtual cameras,
resampled to random frame rates, flipped, with other body proportions, and the 2D perturbed the way
MediaPipe errs (hip offset spread, temporally correlated jitter, left/right swaps, joints cut off by
the image border).

Every sequence is packed into flat tensors on the device once; a batch is a handful of gathers and
elementwise ops there, so a GPU is not left waiting for the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .h36m import FPS, Sequence
from .motion import MotionClip, scale_bones
from .skeletons import H36M, LIMBS, flip_pose
from .virtual_cameras import CameraRanges, draw_cameras, film, framing


@dataclass(frozen=True)
class Augment:
    """Augmentation strengths (all probabilities per window unless said otherwise)."""
    detections: float = 0.4  # real-camera windows: use the SH detections instead of projected ground truth
    fps_range: tuple[float, float] = (25.0, 60.0)
    native_fps: float = 0.3  # keep the data's own frame rate
    flip: float = 0.5
    # Off by default: per-joint corruption costs clean accuracy quickly (3 % outliers and 3 % dropped
    # joints: +9 mm validation P1 after 500 steps, see docs/lifter_tcn81_h36m_notes.md).
    noise: float = 0.0  # Gaussian 2D noise, fraction of the pose's 2D scale
    outlier: float = 0.0  # per joint: a detector miss, displaced by up to 40 % of the scale
    dropout: float = 0.0  # per joint: lost entirely (confidence 0, position meaningless)
    mask_frames: float = 0.0  # per frame: every joint lost (masked pretraining hides frames and joints)
    hip_spread: float = 0.08  # hip width and height jitter, fraction (MediaPipe's hips differ from H36M)
    # Ground-truth-2D windows only: each bone group's length scaled by exp(N(0, bone_scale)), the 3D
    # rebuilt along the skeleton and projected again, so the lifter meets new body proportions.
    bone_scale: float = 0.0
    # Share of windows filmed by virtual cameras from world mocap, and of those the share from Bandai.
    virtual: float = 0.0
    bandai: float = 0.5
    cameras: CameraRanges = field(default_factory=CameraRanges)
    # MediaPipe-shaped errors on ground-truth-2D windows: temporally correlated jitter (fraction of the
    # 2D scale, drawn up to this), and a left/right swap of a limb or side for a few frames.
    jitter: float = 0.0
    swap: float = 0.0


def lift_stride(fps: float) -> int:
    """Every how many frames one lifter stream takes, so that a video filmed faster than the lifters
    are trained for (``Augment.fps_range``, up to 60 fps) reaches them at a trained rate: 1 up to
    60 fps (63, for a frame rate measured from timestamps), 2 up to 120, 4 at 240. The frames in between
    are ``stride - 1`` more streams, interleaved."""
    return max(1, math.ceil(fps / Augment.fps_range[1] - 0.05))


# Joint sets MediaPipe swaps left for right, by H36M-17 name (each listed with its twin): a limb from
# one joint to its end, and the whole body.
LEG, ARM = LIMBS
SWAP_SETS = (ARM[2:], ARM[1:], LEG[2:], LEG[1:], LEG, LEG + ARM)


SWAP_MASKS = torch.tensor([[any(n.endswith(f"_{name}") for name in names) for n in H36M.joints]
                           for names in SWAP_SETS])  # (sets, J): the joints each set swaps


class _Packed:
    """Sequences of one kind packed flat: per frame, its sequence's first frame and frame rate."""

    def __init__(self, lengths: list[int], fps: list[float], device: torch.device):
        n = torch.tensor(lengths, device=device)
        self.first_of = torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
        self.fps_of = torch.repeat_interleave(torch.tensor(fps, device=device, dtype=torch.float32), n)
        self.frames = int(n.sum())

    def times(self, end: torch.Tensor, frames: int, fps: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frame times reaching back from ``end`` at ``fps``: indices i0, i1 (B, T) and weights (B, T)
        on i1. Before the sequence starts its first frame repeats."""
        back = torch.arange(frames - 1, -1, -1, device=end.device)[None] * (self.fps_of[end] / fps)[:, None]
        t = torch.maximum(end[:, None] - back, self.first_of[end][:, None].float())
        i0 = t.floor().long()
        return i0, torch.minimum(i0 + 1, end[:, None]), t - i0


def _lerp(frames: torch.Tensor, i0: torch.Tensor, i1: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``frames`` at fractional times between frames ``i0`` and ``i1`` (weight ``a`` on ``i1``)."""
    a = a.reshape(a.shape + (1,) * (frames.dim() - 1))
    return (1 - a) * frames[i0] + a * frames[i1]


class WindowSampler:
    def __init__(self, sequences: list[Sequence], frames: int, outputs: int = 1,
                 clips: dict[str, list[MotionClip]] | None = None, device: str | torch.device = "cpu"):
        """``frames`` of 2D reach back from each window's end; the 3D of its last ``outputs`` frames
        are the targets (more than one when the lifter trains dense). ``sequences`` are real-camera
        Human3.6M; ``clips`` (``"h36m"``, ``"bandai"``) world mocap for the virtual cameras."""
        self.frames, self.outputs, self.device = frames, outputs, torch.device(device)

        def cat(arrays) -> torch.Tensor:
            return torch.from_numpy(np.concatenate(arrays).astype(np.float32)).to(self.device)

        self.real = _Packed([len(s) for s in sequences], [FPS] * len(sequences), self.device)
        self.pose3d = cat([s.pose3d - s.pose3d[:, :1] for s in sequences])
        self.root3d = cat([s.pose3d[:, :1] for s in sequences])
        norm = [s.camera.normalize(s.pose2d) for s in sequences]
        self.gt2d = cat(norm)
        self.det2d = cat([s.camera.normalize(s.detections) if s.sh16 is not None else n for s, n in zip(sequences, norm)])
        self.has_det = cat([np.full(len(s), s.sh16 is not None) for s in sequences]).bool()
        self.world = {k: (_Packed([len(c) for c in v], [c.fps for c in v], self.device), cat([c.world for c in v]))
                      for k, v in (clips or {}).items() if v}

    def __len__(self) -> int:
        return self.real.frames

    def sample(self, batch: int, gen: torch.Generator, aug: Augment | None, with_root: bool = False
               ) -> tuple[torch.Tensor, ...]:
        """Returns 2D (B, T, J, 2) normalised image coords, confidence (B, T, J), 3D targets (B, L, J, 3)
        for the last L = ``outputs`` frames, on the sampler's device; ``with_root`` also the root's
        position in the camera frame (B, L, 3) mm for those frames."""
        virtual = int(round(batch * aug.virtual)) if aug is not None and self.world else 0
        kp, conf, target, root, ground_truth = self._real(batch - virtual, gen, aug)
        if virtual:
            more = self._virtual(virtual, gen, aug)
            kp, conf, target, root = (torch.cat([a, b]) for a, b in zip((kp, conf, target, root), more))
            ground_truth = torch.cat([ground_truth, torch.ones(virtual, dtype=torch.bool, device=self.device)])
        if aug is not None:
            kp, conf, target, root = self._perturb(kp, conf, target, root, ground_truth, gen, aug)
        return (kp, conf, target, root) if with_root else (kp, conf, target)

    def _rand(self, *shape: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(shape, generator=gen, device=self.device)

    def _fps(self, batch: int, native: torch.Tensor, gen: torch.Generator, aug: Augment | None) -> torch.Tensor:
        if aug is None:
            return native
        lo, hi = aug.fps_range
        return torch.where(self._rand(batch, gen=gen) < aug.native_fps, native, lo + (hi - lo) * self._rand(batch, gen=gen))

    def _real(self, batch: int, gen: torch.Generator, aug: Augment | None):
        end = torch.randint(self.real.frames, (batch,), generator=gen, device=self.device)
        i0, i1, a = self.real.times(end, self.frames, self._fps(batch, self.real.fps_of[end], gen, aug))
        use_det = torch.zeros(batch, dtype=torch.bool, device=self.device)
        if aug is not None:
            use_det = (self._rand(batch, gen=gen) < aug.detections) & self.has_det[end]
        kp = torch.where(use_det[:, None, None, None], _lerp(self.det2d, i0, i1, a), _lerp(self.gt2d, i0, i1, a))
        n = self.outputs
        target = _lerp(self.pose3d, i0[:, -n:], i1[:, -n:], a[:, -n:])
        target_root = _lerp(self.root3d, i0[:, -n:], i1[:, -n:], a[:, -n:])[:, :, 0]
        if aug is not None and aug.bone_scale > 0:
            gt = ~use_det
            rel = _lerp(self.pose3d, i0[gt], i1[gt], a[gt])
            root = _lerp(self.root3d, i0[gt], i1[gt], a[gt])
            kp[gt], target[gt] = rescale_bones(kp[gt], rel, root, self._bone_factors(int(gt.sum()), gen, aug), n)
        return kp, torch.ones(kp.shape[:3], device=self.device), target, target_root, ~use_det

    def _virtual(self, batch: int, gen: torch.Generator, aug: Augment):
        use_bandai = torch.zeros(batch, dtype=torch.bool, device=self.device)
        if "bandai" in self.world:
            use_bandai = self._rand(batch, gen=gen) < (aug.bandai if "h36m" in self.world else 1.0)
        parts = []
        for name, rows in (("bandai", use_bandai), ("h36m", ~use_bandai)):
            n = int(rows.sum())
            if n:
                packed, world = self.world[name]
                end = torch.randint(packed.frames, (n,), generator=gen, device=self.device)
                i0, i1, a = packed.times(end, self.frames, self._fps(n, packed.fps_of[end], gen, aug))
                parts.append(_lerp(world, i0, i1, a))
        world = torch.cat(parts)
        if aug.bone_scale > 0:
            root = world[:, :, :1]
            world = root + scale_bones(world - root, self._bone_factors(batch, gen, aug)[:, None])
        cam, xy, inside = film(world, draw_cameras(*framing(world), gen, aug.cameras))
        target = cam[:, -self.outputs:] - cam[:, -self.outputs:, :1]
        return xy, inside.float(), target, cam[:, -self.outputs:, 0]

    def _bone_factors(self, batch: int, gen: torch.Generator, aug: Augment) -> torch.Tensor:
        """Per window, one length factor per bone (child joint), equal for left and right twins."""
        groups = torch.exp(aug.bone_scale * torch.randn(batch, len(BONE_GROUPS), generator=gen, device=self.device))
        return torch.cat([torch.ones(batch, 1, device=self.device), groups[:, _GROUP_OF]], dim=1)

    def _perturb(self, kp: torch.Tensor, conf: torch.Tensor, target: torch.Tensor, root: torch.Tensor,
                 ground_truth: torch.Tensor, gen: torch.Generator, aug: Augment
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, j, _ = kp.shape
        flip = self._rand(b, gen=gen) < aug.flip
        kp = torch.where(flip[:, None, None, None], flip_pose(kp, H36M), kp)
        target = torch.where(flip[:, None, None, None], flip_pose(target, H36M), target)
        root = torch.where(flip[:, None, None], root * torch.tensor([-1.0, 1.0, 1.0], device=self.device), root)
        conf = conf * (0.8 + 0.2 * self._rand(b, t, j, gen=gen))
        kp, conf = mediapipe_errors(kp, conf, ground_truth, gen, aug)

        scale = _scale(kp)
        clean = ground_truth[:, None, None, None].float()
        level = aug.noise * self._rand(b, 1, 1, 1, gen=gen)
        kp = kp + clean * level * scale * torch.randn(kp.shape, generator=gen, device=self.device)
        outlier = self._rand(b, t, j, gen=gen) < aug.outlier
        shift = 0.8 * scale * (self._rand(b, t, j, 2, gen=gen) - 0.5)
        kp = torch.where(outlier[..., None], kp + shift, kp)
        conf = torch.where(outlier, 0.6 * self._rand(b, t, j, gen=gen), conf)
        dropped = self._rand(b, t, j, gen=gen) < aug.dropout
        kp = torch.where(dropped[..., None], kp[:, :, :1] + shift, kp)
        conf = torch.where(dropped, torch.zeros_like(conf), conf)
        masked = self._rand(b, t, 1, gen=gen) < aug.mask_frames
        kp = torch.where(masked[..., None], kp[:, :, :1], kp)  # nothing left but the pelvis's place
        conf = torch.where(masked, torch.zeros_like(conf), conf)
        return kp, conf, target, root


def _scale(kp: torch.Tensor) -> torch.Tensor:
    """Each frame's RMS joint distance from the pelvis, (B, T, 1, 1)."""
    return (kp - kp[:, :, :1]).square().sum(-1).mean(-1).sqrt()[..., None, None]


def mediapipe_errors(kp: torch.Tensor, conf: torch.Tensor, eligible: torch.Tensor, gen: torch.Generator,
                     aug: Augment, events: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The errors MediaPipe makes, on 2D windows (B, T, J, 2) with confidence (B, T, J): the spread of
    its hip offset from H36M's (all windows), and on the ``eligible`` (B,) ones (clean ground truth)
    temporally correlated jitter and ``events`` chances, each of probability ``aug.swap``, of a
    left/right swap of a limb or side for 2-15 frames, with the confidence MediaPipe keeps there
    (it stays fairly sure of a swapped limb)."""
    b, t, j, _ = kp.shape
    dev = kp.device
    pelvis, scale = kp[:, :, :1], _scale(kp)
    hips = [H36M.index("left_hip"), H36M.index("right_hip")]
    spread = 1 + aug.hip_spread * torch.randn(b, 1, 1, 1, generator=gen, device=dev)
    lift = aug.hip_spread * torch.randn(b, 1, 1, generator=gen, device=dev) * scale[..., 0]
    kp = kp.clone()
    kp[:, :, hips] = pelvis + (kp[:, :, hips] - pelvis) * spread
    kp[:, :, hips, 1] += lift
    if aug.jitter > 0:
        level = aug.jitter * torch.rand(b, 1, 1, 1, generator=gen, device=dev)
        kp = kp + eligible[:, None, None, None] * level * scale * _smooth_noise(b, t, j, gen, dev)
    frame = torch.arange(t, device=dev)[None]
    sets = SWAP_MASKS.to(dev)
    for _ in range(events if aug.swap > 0 else 0):
        on = (torch.rand(b, generator=gen, device=dev) < aug.swap) & eligible
        joints = sets[torch.randint(len(SWAP_SETS), (b,), generator=gen, device=dev)]
        length = torch.randint(2, 16, (b, 1), generator=gen, device=dev)
        start = torch.randint(0, t, (b, 1), generator=gen, device=dev)
        mask = (((frame >= start) & (frame < start + length) & on[:, None])[:, :, None] & joints[:, None, :])
        kp = torch.where(mask[..., None], kp[:, :, H36M.flip_index], kp)
        conf = torch.where(mask, conf * (0.5 + 0.5 * torch.rand(b, 1, 1, generator=gen, device=dev)), conf)
    return kp, conf


def _smooth_noise(b: int, t: int, j: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Unit noise (B, T, J, 2) correlated over time: drawn every k frames (k per batch, 1-8) and
    interpolated, the slow wander of a detector rather than independent shake."""
    k = int(torch.randint(1, 9, (1,), generator=gen, device=device))
    knots = torch.randn(b * j * 2, 1, t // k + 2, generator=gen, device=device)
    smooth = torch.nn.functional.interpolate(knots, size=t, mode="linear", align_corners=True)
    return smooth.reshape(b, j, 2, t).permute(0, 3, 1, 2)


# Bone groups whose lengths vary together (left and right alike), by child joint.
BONE_GROUPS = (("right_hip", "left_hip"), ("right_knee", "left_knee"), ("right_ankle", "left_ankle"), ("spine",),
               ("thorax",), ("neck_nose",), ("head_top",), ("left_shoulder", "right_shoulder"),
               ("left_elbow", "right_elbow"), ("left_wrist", "right_wrist"))
_GROUP_OF = [next(g for g, names in enumerate(BONE_GROUPS) if name in names) for name in H36M.joints[1:]]


def rescale_bones(kp: torch.Tensor, rel: torch.Tensor, root: torch.Tensor, factors: torch.Tensor, outputs: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of a person with other bone lengths: 2D ``kp`` (B, T, J, 2) in normalised image
    coordinates with its root-relative 3D ``rel`` (B, T, J, 3) and root ``root`` (B, T, 1, 3) in the
    camera frame (mm), each bone ``factors`` (B, J) times as long (per child joint). The 2D moves by
    the change of the pinhole projection, which keeps whatever the original projection had besides.
    Returns the new 2D and the new 3D of the last ``outputs`` frames."""
    new = scale_bones(rel, factors[:, None])

    def project(p: torch.Tensor) -> torch.Tensor:
        return p[..., :2] / p[..., 2:]

    return kp + project(new + root) - project(rel + root), new[:, -outputs:]
