"""Scores of one camera's monocular result against a multi-view reference: pose (Procrustes-aligned),
floor, foot height in contact, root trajectory, joint angles, and which person the result followed."""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...calibration.triangulation import person_size
from ...models.angles import ANGLE_NAMES, angle_between, angle_difference, joint_angles
from ...models.metrics import p_mpjpe
from ...models.skeletons import H36M, MEDIAPIPE, convert, convert_confidence

# The H36M-17 joints MediaPipe-33 has a counterpart for (its hips as the product maps them).
SHARED = tuple(H36M.index(name) for name in (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist"))
ANKLES = (H36M.index("left_ankle"), H36M.index("right_ankle"))
LEFT, RIGHT = H36M.limb_pairs.T
# A result is on a reference person in a frame when its 2D joints lie within this share of the person's
# size (their projected box's diagonal) of the person's projection, median over the joints.
FOLLOW_GATE = 0.25
# How far apart (px) the reference must see a left/right pair for its labels to mean anything (in profile
# a pair overlaps).
LABEL_APART_PX = 15.0


def mediapipe_to_h36m(points: np.ndarray) -> np.ndarray:
    """MediaPipe-33 points (..., 33, D) -> H36M-17 (..., 17, D): NaN where any landmark a joint is made
    from is NaN (the mapping's weighted sums would otherwise spread one NaN to every joint)."""
    points = np.asarray(points, np.float64)
    finite = np.isfinite(points).all(-1)
    out = convert(np.where(finite[..., None], points, 0.0), MEDIAPIPE.name, H36M.name)
    ok = convert_confidence(finite.astype(np.float64), MEDIAPIPE.name, H36M.name) > 0
    return np.where(ok[..., None], out, np.nan)


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Frames (N,) where every array is finite over its trailing axes."""
    ok = np.ones(len(arrays[0]), bool)
    for a in arrays:
        ok &= np.isfinite(a.reshape(len(a), -1)).all(1)
    return ok


def p2_mm(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Procrustes-aligned MPJPE (N,) mm per frame over :data:`SHARED` of H36M-17 poses (N, 17, 3) in any
    axes; NaN where either lacks a shared joint."""
    a, b = np.asarray(pred, np.float64)[:, SHARED], np.asarray(ref, np.float64)[:, SHARED]
    out = np.full(len(a), np.nan)
    ok = _finite_rows(a, b)
    if ok.any():
        out[ok] = p_mpjpe(a[ok], b[ok])
    return out


def gravity_error_deg(up: np.ndarray, true_up: np.ndarray) -> float:
    """Angle (deg) between an estimated and the true up, both in camera axes."""
    return float(angle_between(np.asarray(up, np.float64), np.asarray(true_up, np.float64)))


def contact_heights(world: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """Ankle heights (mm, Y up) of the planted feet: ``world`` (N, 17, 3) poses, ``contacts`` (N, 2) bool
    (left, right); one value per planted foot-frame, NaN ones left out."""
    heights = np.asarray(world, np.float64)[:, ANKLES, 1]
    h = heights[np.asarray(contacts, bool)]
    return h[np.isfinite(h)]


def root_errors_mm(trajectory: np.ndarray, ref: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Mean root error (mm) of a camera-frame trajectory (N, 3) against the reference's (N, 3): as it is,
    and with the mean offset removed (a monocular depth is only known up to the subject's scale);
    also the mean offset (3,)."""
    t, r = np.asarray(trajectory, np.float64), np.asarray(ref, np.float64)
    ok = _finite_rows(t, r)
    if not ok.any():
        return float("nan"), float("nan"), np.full(3, np.nan)
    d = t[ok] - r[ok]
    offset = d.mean(0)
    return float(np.linalg.norm(d, axis=-1).mean()), float(np.linalg.norm(d - offset, axis=-1).mean()), offset


def angle_errors_deg(pred_world: np.ndarray, ref_world: np.ndarray) -> dict[str, float]:
    """Mean absolute difference (deg) of each :func:`models.angles.joint_angles` angle between poses
    (N, 17, 3) in gravity-aligned Y-up worlds, over the frames both have."""
    ok = _finite_rows(pred_world, ref_world)
    if not ok.any():
        return {name: float("nan") for name in ANGLE_NAMES}
    a, b = joint_angles(np.asarray(pred_world)[ok]), joint_angles(np.asarray(ref_world)[ok])
    return {name: float(np.nanmean(np.abs(angle_difference(a[name], b[name])))) for name in ANGLE_NAMES}


def people_under(keypoints: np.ndarray, ref_2d: np.ndarray, gate: float = FOLLOW_GATE) -> np.ndarray:
    """Which reference person (F,) a result's 2D joints (F, J, 2) lie on in each frame, given the
    reference people's projections (F, P, J, 2): the nearest within ``gate``, -1 for none (or no result)."""
    kp, ref = np.asarray(keypoints, np.float64), np.asarray(ref_2d, np.float64)
    size = person_size(ref, np.isfinite(ref).all(-1))  # (F, P)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no result, or nobody, in that frame
        cost = np.nanmedian(np.linalg.norm(kp[:, None] - ref, axis=-1), axis=-1) / np.maximum(size, 1.0)
    cost = np.where(np.isfinite(cost), cost, np.inf)
    best = cost.argmin(1) if cost.shape[1] else np.zeros(len(cost), int)
    found = cost[np.arange(len(cost)), best] < gate if cost.shape[1] else np.zeros(len(cost), bool)
    return np.where(found, best, -1)


def labels_wrong(keypoints: np.ndarray, ref_2d: np.ndarray, apart_px: float = LABEL_APART_PX) -> float:
    """The share of left/right pairs (hips to wrists) whose labels are crossed: a result's 2D joints
    (F, J, 2) against one reference person's projection (F, J, 2) (NaN where not scored), pairs the
    reference sees apart."""
    kp, ref = np.asarray(keypoints, np.float64), np.asarray(ref_2d, np.float64)
    keep = np.linalg.norm(kp[:, LEFT] - ref[:, LEFT], axis=-1) + np.linalg.norm(kp[:, RIGHT] - ref[:, RIGHT], axis=-1)
    cross = np.linalg.norm(kp[:, LEFT] - ref[:, RIGHT], axis=-1) + np.linalg.norm(kp[:, RIGHT] - ref[:, LEFT], axis=-1)
    with np.errstate(invalid="ignore"):
        scored = np.isfinite(keep) & np.isfinite(cross) & (np.linalg.norm(ref[:, LEFT] - ref[:, RIGHT], axis=-1) > apart_px)
    return float((cross[scored] < keep[scored]).mean()) if scored.any() else float("nan")


def assign_results(under: np.ndarray, people: int) -> list[int | None]:
    """Each reference person's result: ``under`` (C, F) from :func:`people_under` for C results; the
    assignment that keeps the most frames on the right person (None: no result was ever on them)."""
    out: list[int | None] = [None] * people
    if not len(under):
        return out
    counts = np.array([[(u == p).sum() for u in under] for p in range(people)])
    for p, c in zip(*linear_sum_assignment(-counts)):
        if counts[p, c] > 0:
            out[p] = int(c)
    return out


def identity(under: np.ndarray, person: int, present: np.ndarray) -> tuple[float, int]:
    """How well one result followed ``person``: the share of the frames where the person is ``present``
    (F,) bool in which the result ``under`` (F,) was on them, and its switches from one person to another."""
    under, present = np.asarray(under), np.asarray(present, bool)
    share = float((under[present] == person).mean()) if present.any() else float("nan")
    on = under[under >= 0]
    return share, int((np.diff(on) != 0).sum())
