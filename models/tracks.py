"""The lifter's causal output over whole Human3.6M sequences, with the 2D it saw and the truth: what
the refiner is trained and validated on. Sequences are packed flat; windows gather from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluate import predict_sequence, resample
from .h36m import Sequence
from .lifter import TemporalLifter, window_2d
from .occlusion import occlude
from .refiner import window_index


@dataclass(frozen=True)
class TrackAugment:
    """How each sequence's 2D is varied before the lifter runs over it (probabilities per track)."""
    detections: float = 0.5  # SH detections instead of projected ground truth
    fps_range: tuple[float, float] = (25.0, 60.0)
    native_fps: float = 0.4  # keep the data's own 50 fps
    noise: float = 0.01  # Gaussian noise on ground-truth 2D, fraction of the pose's 2D size
    occluded: float = 0.5  # tracks with occlusion-style corruption
    occlusion_rate: tuple[float, float] = (0.02, 0.2)  # fraction of joint-frames corrupted, when occluded


@dataclass
class Tracks:
    pose: np.ndarray  # (N, J, 3) lifter output, mm
    uncertainty: np.ndarray  # (N, J) mm
    x2d: np.ndarray  # (N, J+1, 3) the lifter's 2D network input
    target: np.ndarray  # (N, J, 3) ground truth, root-relative mm
    start: np.ndarray  # (N,) index of the first frame of each frame's track

    def __len__(self) -> int:
        return len(self.pose)

    def windows(self, ends: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
        """Causal windows ending at ``ends``: pose (B, W, J, 3), uncertainty, x2d, and the target of
        the newest frame (B, J, 3). Before a track's start the first frame repeats, as live."""
        idx = window_index(ends, self.start[ends], window)
        return self.pose[idx], self.uncertainty[idx], self.x2d[idx], self.target[ends]


def lifter_track(lifter: TemporalLifter, kp: np.ndarray, conf: np.ndarray, flip: bool = True
                 ) -> tuple[np.ndarray, ...]:
    """The lifter's pose, uncertainty and 2D network input for a whole 2D sequence."""
    rows = window_2d(kp, conf)
    pose, sigma = predict_sequence(lifter, rows, flip)
    return pose, sigma, rows.numpy()


def build_tracks(lifter: TemporalLifter, sequences: list[Sequence], aug: TrackAugment, variants: int,
                 rng: np.random.Generator, flip: bool = True) -> Tracks:
    """Run the lifter over ``variants`` randomly varied versions of every sequence."""
    parts: list[tuple[np.ndarray, ...]] = []
    for seq in sequences:
        for _ in range(variants):
            use_det = seq.sh16 is not None and rng.random() < aug.detections
            kp = seq.camera.normalize(seq.detections if use_det else seq.pose2d)
            target = seq.pose3d - seq.pose3d[:, :1]
            if rng.random() >= aug.native_fps:
                fps = rng.uniform(*aug.fps_range)
                kp, target = resample(kp, fps)[0], resample(target, fps)[0]
            if not use_det:
                size = np.sqrt(((kp - kp[:, :1]) ** 2).sum(-1).mean())
                kp = kp + aug.noise * rng.random() * size * rng.standard_normal(kp.shape)
            conf = np.ones(kp.shape[:2])
            if rng.random() < aug.occluded:
                kp, conf, _ = occlude(kp, conf, rng.uniform(*aug.occlusion_rate), rng)
            parts.append((*lifter_track(lifter, kp, conf, flip), target.astype(np.float32)))
    lengths = [len(p[0]) for p in parts]
    first = np.repeat(np.cumsum([0] + lengths[:-1]), lengths)
    pose, sigma, x2d, target = (np.concatenate([p[i] for p in parts]).astype(np.float32) for i in range(4))
    return Tracks(pose, sigma, x2d, target, first)
