"""Pose-error metrics of the 3D pose literature. Poses are (..., J, 3) in mm, time along axis 0."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np

from .rotations import similarity_align


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-pose mean per-joint position error (Protocol 1 on root-relative poses): shape (...)."""
    return np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)


def procrustes_align(pred: np.ndarray, gt: np.ndarray, scale: bool = True) -> np.ndarray:
    """Best similarity (rotation, translation, optional scale) of each ``pred`` pose onto ``gt``."""
    return similarity_align(pred, gt, scale=scale)[0]


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol 2: MPJPE after rigid alignment with scale."""
    return mpjpe(procrustes_align(pred, gt), gt)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """MPJPE after the least-squares scale of ``pred`` onto ``gt`` (root-relative poses)."""
    a = (pred * gt).sum(axis=(-1, -2), keepdims=True) / (pred * pred).sum(axis=(-1, -2), keepdims=True)
    return mpjpe(a * pred, gt)


def pck(pred: np.ndarray, gt: np.ndarray, threshold: float = 150.0) -> np.ndarray:
    """Per pose, the fraction of joints within ``threshold`` mm (3DPCK)."""
    return (np.linalg.norm(pred - gt, axis=-1) <= threshold).mean(axis=-1)


def auc(pred: np.ndarray, gt: np.ndarray, max_threshold: float = 150.0, steps: int = 31) -> np.ndarray:
    """Per pose, 3DPCK averaged over thresholds 0..``max_threshold`` mm."""
    err = np.linalg.norm(pred - gt, axis=-1)
    t = np.linspace(0, max_threshold, steps)
    return (err[..., None] <= t).mean(axis=(-1, -2))


def velocity_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint velocity error (mm/frame) over a sequence (T, J, 3)."""
    return float(mpjpe(np.diff(pred, axis=0), np.diff(gt, axis=0)).mean())


def acceleration_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint acceleration error (mm/frame^2) over a sequence: the jitter measure."""
    return float(mpjpe(np.diff(pred, n=2, axis=0), np.diff(gt, n=2, axis=0)).mean())


def trajectory_error(pred_root: np.ndarray, gt_root: np.ndarray) -> float:
    """Mean Euclidean error (mm) of the root trajectory (T, 3) in the camera frame."""
    return float(np.linalg.norm(pred_root - gt_root, axis=-1).mean())


def per_action_mean(rows: Iterable[tuple[str, float, int]]) -> tuple[dict[str, float], float]:
    """The literature's aggregation: frame-weighted mean per action, then the plain mean over actions.

    ``rows`` holds (action, mean value over a sequence, frame count).
    """
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for action, value, n in rows:
        total[action] += value * n
        count[action] += n
    per_action = {a: total[a] / count[a] for a in sorted(total)}
    return per_action, float(np.mean(list(per_action.values())))


def per_action_results(rows: dict[str, list[tuple[str, float, int]]]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Every metric's rows (``per_action_mean``) at once: {action: {metric: value}} and {metric: mean}."""
    per_action: dict[str, dict[str, float]] = {}
    means: dict[str, float] = {}
    for key, r in rows.items():
        if r:
            by_action, means[key] = per_action_mean(r)
            for a, v in by_action.items():
                per_action.setdefault(a, {})[key] = v
    return per_action, means
