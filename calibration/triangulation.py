"""Robust multi-view triangulation of joints seen by calibrated cameras."""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import NamedTuple

import numpy as np

from .camera import Camera

MIN_WEIGHT = 0.3  # landmarks less visible than this are left out of triangulation and matching
# A view disagrees with a joint when it reprojects further than this share of the person's size in
# that view (the diagonal of their box), or MIN_GATE_PX for a small person.
GATE_SHARE = 0.04
MIN_GATE_PX = 12.0
SCALE_MM = 1000.0  # triangulation works in metres about the rig's centre (a well-conditioned DLT)


class Triangulated(NamedTuple):
    points: np.ndarray  # (..., J, 3) world mm; NaN where fewer than two views agree
    error: np.ndarray  # (..., J) pixels: RMS reprojection error over the views used; NaN where not triangulated
    views: np.ndarray  # (..., V, J) bool: the views that agree with the point (within the gate), two or more
    view_errors: np.ndarray  # (..., V, J) pixels from the point's projection to each view's; NaN where not triangulated


def person_size(uv: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Diagonal (...,) in pixels of the box around the valid points (..., J, 2)."""
    lo = np.where(valid[..., None], uv, np.inf).min(-2)
    hi = np.where(valid[..., None], uv, -np.inf).max(-2)
    size = np.linalg.norm(hi - lo, axis=-1)
    return np.where(np.isfinite(size), size, 0.0)


def _projections(cameras: Sequence[Camera], centre: np.ndarray) -> np.ndarray:
    """(V, 3, 4): world metres about ``centre`` -> camera axes, up to scale."""
    return np.stack([np.hstack([np.asarray(c.R), (np.asarray(c.R) @ (centre - np.asarray(c.T)))[:, None] / SCALE_MM])
                     for c in cameras])


def _dlt(rays: np.ndarray, w: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Weighted linear triangulation: rays (N, V, 2) ideal normalised coordinates, weights (N, V) -> (N, 3)."""
    A = np.stack([rays[..., 0, None] * P[:, 2] - P[:, 0], rays[..., 1, None] * P[:, 2] - P[:, 1]], axis=-2)
    A = A * w[..., None, None]
    h = np.linalg.eigh(np.einsum("nvik,nvil->nkl", A, A))[1][..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return h[:, :3] / h[:, 3:]


def _gauss_newton(Y: np.ndarray, rays: np.ndarray, w: np.ndarray, P: np.ndarray, focal: np.ndarray,
                  steps: int) -> np.ndarray:
    """Refine points Y (N, 3) to minimise the weighted reprojection error (pixels, ideal image plane)."""
    M = P[:, :, :3]
    for _ in range(steps):
        xc = np.einsum("vij,nj->nvi", M, Y) + P[:, :, 3]
        z = xc[..., 2]
        front = z > 1e-6
        z = np.where(front, z, 1.0)
        proj = xc[..., :2] / z[..., None]
        r = (proj - rays) * focal[:, None]
        dp = np.zeros(xc.shape[:2] + (2, 3))
        dp[..., 0, 0] = dp[..., 1, 1] = 1 / z
        dp[..., :, 2] = -proj / z[..., None]
        jac = np.einsum("nvik,vkj->nvij", dp, M) * focal[:, None, None]
        ww = np.where(front, w, 0.0)
        H = np.einsum("nv,nvia,nvib->nab", ww, jac, jac) + 1e-9 * np.eye(3)
        g = np.einsum("nv,nvia,nvi->na", ww, jac, r)
        step = np.linalg.solve(H, g[..., None])[..., 0]
        Y = np.where(np.isfinite(step), Y - step, Y)
    return Y


def _pixel_errors(X: np.ndarray, uv: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Distance (N, V) in pixels from each world point X (N, 3) mm to its view's point uv (N, V, 2),
    lens distortion included; inf behind a camera, NaN for a NaN point."""
    out = np.empty(uv.shape[:2])
    with np.errstate(divide="ignore", invalid="ignore"):
        for v, cam in enumerate(cameras):
            xc = cam.world_to_camera(X)
            err = np.linalg.norm(cam.project(xc) - uv[:, v], axis=-1)
            out[:, v] = np.where(xc[:, 2] > 0, err, np.where(np.isnan(xc[:, 2]), np.nan, np.inf))
    return out


def triangulate(points_2d: np.ndarray, weights: np.ndarray, cameras: Sequence[Camera],
                gate_px: float | np.ndarray | None = None, min_weight: float = MIN_WEIGHT,
                refine: int = 3) -> Triangulated:
    """Joints (..., J, 3) mm from their pixels in V views (..., V, J, 2) weighed by ``weights`` (..., V, J)
    (MediaPipe visibility; below ``min_weight`` or NaN pixels: not used).

    Robust: every pair of views is triangulated and the pair most other views agree with (reprojection
    within ``gate_px``) is kept; the agreeing views are solved together (weighted DLT on undistorted
    points, then ``refine`` Gauss-Newton steps on the pixel error). ``gate_px`` broadcasts to (..., V, J);
    by default it is ``GATE_SHARE`` of the person's size in each view (the box of its points), at least
    ``MIN_GATE_PX``. A joint that no two views agree on is NaN."""
    pts = np.asarray(points_2d, np.float64)
    V = len(cameras)
    if pts.ndim < 3 or pts.shape[-3] != V or pts.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {pts.shape}: expected (..., {V}, J, 2) for {V} cameras.")
    w = np.broadcast_to(np.asarray(weights, np.float64), pts.shape[:-1])
    lead, J = pts.shape[:-3], pts.shape[-2]
    valid = (w >= min_weight) & np.isfinite(pts).all(-1) & (w > 0)
    if gate_px is None:
        gate_px = np.maximum(MIN_GATE_PX, GATE_SHARE * person_size(pts, valid))[..., None]
    gate = np.broadcast_to(np.asarray(gate_px, np.float64), pts.shape[:-1])

    # (N, V, ...) with N = lead x J
    def flat(a: np.ndarray) -> np.ndarray:
        return np.moveaxis(a, len(lead), len(lead) + 1).reshape((-1, V) + a.shape[len(lead) + 2:])

    uv, ok, gate = flat(np.where(valid[..., None], pts, 0.0)), flat(valid), flat(gate)
    w = np.where(ok, flat(w), 0.0)
    rays = np.stack([cam.rays(uv[:, v]) for v, cam in enumerate(cameras)], axis=1)
    centre = np.mean([np.asarray(c.T, np.float64) for c in cameras], axis=0)
    P = _projections(cameras, centre)
    focal = np.array([c.focal for c in cameras])

    def solve(weight: np.ndarray, steps: int) -> np.ndarray:
        Y = _dlt(rays, weight, P)
        if steps:
            Y = _gauss_newton(np.where(np.isfinite(Y), Y, 0.0), rays, weight, P, focal, steps)
        X = centre + SCALE_MM * Y
        return np.where(((weight > 0).sum(1) >= 2)[:, None], X, np.nan)

    best_cost = np.full(len(uv), np.inf)
    inliers = np.zeros_like(ok)
    for a, b in combinations(range(V), 2):
        pair = np.zeros_like(w)
        pair[:, [a, b]] = w[:, [a, b]]
        err = _pixel_errors(solve(pair, 0), uv, cameras)
        agree = ok & (err < gate)
        # MSAC: each view costs its squared error in gates, 1 at most (a view that is not used costs 0)
        cost = np.where(ok, np.minimum(np.nan_to_num(err / gate, nan=1.0, posinf=1.0), 1.0) ** 2, 0.0).sum(1)
        better = agree[:, [a, b]].all(1) & (cost < best_cost)
        best_cost = np.where(better, cost, best_cost)
        inliers = np.where(better[:, None], agree, inliers)
    for _ in range(2):  # solve on the views that agree, then let back in any that now agree
        X = solve(np.where(inliers, w, 0.0), refine)
        err = _pixel_errors(X, uv, cameras)
        inliers = ok & (err < gate)
    used = inliers & ((inliers.sum(1) >= 2)[:, None])
    X = np.where(used.sum(1, keepdims=True) >= 2, X, np.nan)
    with np.errstate(invalid="ignore"):
        rms = np.sqrt(np.where(used, err**2, 0.0).sum(1) / used.sum(1))
    err = np.where(np.isnan(X[:, :1]), np.nan, err)
    return Triangulated(X.reshape(lead + (J, 3)), rms.reshape(lead + (J,)),
                        np.moveaxis(used.reshape(lead + (J, V)), -1, -2), np.moveaxis(err.reshape(lead + (J, V)), -1, -2))


def reprojection_errors(points: np.ndarray, points_2d: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Pixel distance (..., V, J) from world joints (..., J, 3) mm, projected into each camera, to ``points_2d``
    (..., V, J, 2)."""
    X = np.asarray(points, np.float64)
    uv = np.asarray(points_2d, np.float64)
    V = len(cameras)
    flat_uv = np.moveaxis(uv, -3, -2).reshape(-1, V, 2)
    err = _pixel_errors(X.reshape(-1, 3), flat_uv, cameras)
    return np.moveaxis(err.reshape(X.shape[:-1] + (V,)), -1, -2)

