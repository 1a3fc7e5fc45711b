"""Root trajectory: where a root-relative 3D pose stands in the camera frame, from its 2D projection.

A pose known up to translation, ``P_j`` (camera axes, mm), seen along viewing rays ``(x_j, y_j)``
(ideal normalised image coordinates) has one translation ``T`` that best lays it onto those rays.
Writing the projection ``(P_j + T)_x = x_j (P_j + T)_z`` (and the same for y) makes the fit linear in
``T``: a 3 x 3 least-squares system per frame, solved in closed form, then re-weighted once by each
joint's depth so that it minimises the error in the image rather than the algebraic one. Its metric
scale is the pose's: scaling the pose scales ``T`` alike, so the subject's height is the one
assumption behind the distance.

:class:`TrajectoryFilter` then smooths the trajectory causally where monocular depth is noisy (its
log) and lightly where the image pins it (the root's ray).
"""
from __future__ import annotations

import math

import numpy as np

DEFAULT_HEIGHT_M = 1.70  # a typical adult, the scale assumption when none is given
HEIGHT_RANGE_M = (0.5, 2.5)


def check_height(height_m: float) -> float:
    """The subject height in metres, refused in one sentence when it is no person's height."""
    lo, hi = HEIGHT_RANGE_M
    if not lo <= float(height_m) <= hi:
        raise ValueError(f"a subject height of {height_m:g} m is out of range: give the person's height in "
                         f"metres, from {lo:g} to {hi:g} (default {DEFAULT_HEIGHT_M:g}).")
    return float(height_m)


def root_translation(pose: np.ndarray, rays: np.ndarray, weights: np.ndarray, refine: int = 1) -> np.ndarray:
    """Translations (..., 3) that best reproject root-relative poses ``pose`` (..., J, 3) onto
    ``rays`` (..., J, 2) with per-joint ``weights`` (..., J) (e.g. 2D confidence). NaN where a frame
    has fewer than two weighted joints or its pose is not finite."""
    pose = np.asarray(pose, np.float64)
    x, y = rays[..., 0], rays[..., 1]
    ok = np.isfinite(pose).all(-1) & np.isfinite(rays).all(-1)
    w = np.where(ok, np.asarray(weights, np.float64), 0.0)
    p = np.where(ok[..., None], pose, 0.0)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    bx, by = x * p[..., 2] - p[..., 0], y * p[..., 2] - p[..., 1]
    t = np.full(pose.shape[:-2] + (3,), np.nan)
    for _ in range(refine + 1):
        if np.isfinite(t).any():  # weight each joint's equations by 1/depth^2: the image-plane error
            depth = np.clip(p[..., 2] + np.nan_to_num(t[..., 2:3], nan=1.0), 1e-3, None)
            wk = w / depth**2 * np.nanmedian(depth, axis=-1, keepdims=True) ** 2
        else:
            wk = w
        m = np.zeros(pose.shape[:-2] + (3, 3))
        m[..., 0, 0] = m[..., 1, 1] = wk.sum(-1)
        m[..., 0, 2] = m[..., 2, 0] = -(wk * x).sum(-1)
        m[..., 1, 2] = m[..., 2, 1] = -(wk * y).sum(-1)
        m[..., 2, 2] = (wk * (x * x + y * y)).sum(-1)
        rhs = np.stack([(wk * bx).sum(-1), (wk * by).sum(-1), -(wk * (x * bx + y * by)).sum(-1)], -1)
        good = ((w > 0).sum(-1) >= 2) & (np.abs(np.linalg.det(m)) > 1e-12)
        m[~good] = np.eye(3)
        t = np.linalg.solve(m, rhs[..., None])[..., 0]
        t[~good] = np.nan
    return t


class AlphaBeta:
    """The steady-state Kalman filter of a constant-velocity model (alpha-beta filter) per component:
    ``accel`` is how hard the true value may accelerate (units/s^2), ``noise`` the measurement's
    standard deviation (units). It follows a steady walk without lag, unlike a plain low-pass."""

    def __init__(self, accel: np.ndarray, noise: np.ndarray):
        self.accel, self.noise = np.asarray(accel, np.float64), np.asarray(noise, np.float64)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self._t: float | None = None

    def predict(self, t: float) -> np.ndarray | None:
        """Where the value is expected at time ``t`` (None before the first value)."""
        return None if self._x is None or self._t is None else self._x + self._v * (t - self._t)

    def __call__(self, z: np.ndarray, t: float) -> np.ndarray:
        z = np.asarray(z, np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._v, self._t = z.copy(), np.zeros_like(z), t
            return z.copy()
        dt = t - self._t
        lam = self.accel * dt * dt / self.noise  # the tracking index (Kalata 1984)
        r = (4 + lam - np.sqrt(8 * lam + lam * lam)) / 4
        alpha = 1 - r * r
        beta = 2 * (2 - alpha) - 4 * np.sqrt(1 - alpha)
        predicted = self._x + self._v * dt
        residual = z - predicted
        self._x = predicted + alpha * residual
        self._v = self._v + beta * residual / dt
        self._t = t
        return self._x.copy()


class TrajectoryFilter:
    """Causal smoothing of a camera-frame root trajectory (mm): the root's ray (x/z, y/z) and its log
    depth are filtered apart, the depth much harder (a monocular depth wobbles by a few per cent from
    frame to frame while the image pins the ray to a pixel or two)."""

    # ray: up to 1 m/s^2 at 4 m (0.25/s^2), measured to ~0.002 (2 px at f = 1000 px);
    # log depth: up to 0.5/s^2, measured to ~0.03 (3 %)
    ACCEL = (0.25, 0.25, 0.5)
    NOISE = (0.002, 0.002, 0.03)
    JUMP = 0.25  # a change of a quarter of the distance (ray or log depth) from the prediction is a jump
    JUMP_S = 0.055  # a jump lasting this long (s; three frames at 30 fps, and at least three) restarts the filter there

    def __init__(self, accel: tuple[float, float, float] = ACCEL, noise: tuple[float, float, float] = NOISE):
        self._filter = AlphaBeta(np.array(accel), np.array(noise))
        self._jump_since: float | None = None  # when the jump now held began
        self._jumps = 0  # and its frames so far

    def reset(self) -> None:
        self._filter.reset()
        self._jump_since, self._jumps = None, 0

    def __call__(self, root_mm: np.ndarray, t: float) -> np.ndarray:
        root_mm = np.asarray(root_mm, np.float64)
        predicted = self._filter.predict(t)
        if not np.isfinite(root_mm).all() or root_mm[2] <= 0:  # no fit this frame (a degenerate 2D pose)
            return np.full(3, np.nan) if predicted is None else self._to_camera(predicted)
        z = root_mm[2]
        measured = np.array([root_mm[0] / z, root_mm[1] / z, math.log(z)])
        if predicted is not None and np.abs(predicted - measured).max() > self.JUMP:
            # No one moves that far between two frames: one such frame is a bad fit (a pose half out
            # of view, a garbled 2D), several in a row a real change (a seek, a new take).
            if self._jump_since is None:
                self._jump_since = t
            self._jumps += 1
            if self._jumps <= 2 or t - self._jump_since < self.JUMP_S:
                return self._to_camera(predicted)
            self.reset()
        self._jump_since, self._jumps = None, 0
        return self._to_camera(self._filter(measured, t))

    @staticmethod
    def _to_camera(state: np.ndarray) -> np.ndarray:
        z = math.exp(state[2])
        return np.array([state[0] * z, state[1] * z, z])


def filter_trajectory(roots_mm: np.ndarray, times: np.ndarray, smoother: TrajectoryFilter | None = None) -> np.ndarray:
    """A whole trajectory (N, 3) through :class:`TrajectoryFilter`, frame by frame, as live."""
    smoother = smoother or TrajectoryFilter()
    return np.array([smoother(r, float(t)) for r, t in zip(roots_mm, times)]).reshape(-1, 3)
