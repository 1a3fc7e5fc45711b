"""Occlusion-style corruption of a 2D sequence: joints lost or misplaced for runs of frames, the way
a detector fails when a limb is hidden or crossed, rather than frame-by-frame noise."""
from __future__ import annotations

import numpy as np


def occlude(kp: np.ndarray, conf: np.ndarray, rate: float, rng: np.random.Generator,
            min_frames: int = 5, max_frames: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corrupt about ``rate`` of the joint-frames of ``kp`` (N, J, 2) / ``conf`` (N, J), in runs.

    Half the runs drop the joint (confidence 0, the position a guess near the body); the other half
    misplace it by a constant offset of up to 40 % of the pose's size with a middling confidence,
    as a confident detector mistake. The pelvis, the lifter's origin, is never touched.
    Returns copies of kp and conf, and the (N, J) mask of corrupted joint-frames.
    """
    n, j = conf.shape
    kp, conf = kp.copy(), conf.copy()
    mask = np.zeros((n, j), bool)
    if rate <= 0 or n == 0:
        return kp, conf, mask
    mean_len = 0.5 * (min_frames + max_frames)
    starts = np.argwhere(rng.random((n, j - 1)) < rate / mean_len)
    scale = np.sqrt(((kp - kp[:, :1]) ** 2).sum(-1).mean(-1))  # (N,)
    for f, joint in starts:
        joint += 1
        end = min(n, f + int(rng.integers(min_frames, max_frames + 1)))
        offset = 0.8 * (rng.random(2) - 0.5)
        span = slice(f, end)
        if rng.random() < 0.5:
            kp[span, joint] = kp[span, 0] + offset * scale[span, None]
            conf[span, joint] = 0.0
        else:
            kp[span, joint] += offset * scale[span, None]
            conf[span, joint] = rng.uniform(0.3, 0.9)
        mask[span, joint] = True
    return kp, conf, mask
