"""Rotations that turn a rig's rest directions onto a pose's: the minimal swing of one bone, and the
best rigid fit of several."""
from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotations (..., 3, 3) turning unit vectors ``a`` onto unit vectors ``b`` (broadcast
    against each other, (..., 3))."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    vx = np.zeros(v.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2], vx[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    vx = vx - np.swapaxes(vx, -1, -2)
    k = 1.0 / np.maximum(1.0 + c, 1e-12)
    rot = np.eye(3) + vx + (vx @ vx) * k[..., None, None]
    opposite = c < -1 + 1e-9
    if opposite.any():  # half a turn about any axis perpendicular to a
        a_opp = a[opposite]
        helper = np.where(np.abs(a_opp[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
        axis = unit(np.cross(a_opp, helper))
        rot[opposite] = 2 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return rot


def rigid_fit(rest: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) best turning rest directions (K, 3) onto the frame's (T, K, 3)."""
    h = np.einsum("tki,kj->tij", now, rest)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    return u @ vt
