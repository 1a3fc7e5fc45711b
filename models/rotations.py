"""Rotations that turn one set of vectors onto another: the minimal swing of one direction, and the best
rotation for several (Kabsch), alone, as a rig's fit of its bones, or as a similarity with translation
and scale (Procrustes), weighted or not."""
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


def best_rotation(src: np.ndarray, dst: np.ndarray, w: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The proper rotations R (..., 3, 3) with R @ src_k closest to dst_k over the K vectors (..., K, 3),
    weighted by ``w`` (..., K); also the trace of R against the weighted cross-covariance (which sets
    a similarity's scale), and whether a mirror image of ``src`` would have fitted better."""
    weighted = dst if w is None else dst * w[..., None]
    # matmul, not einsum: the live fusion runs this per person and frame, where einsum's set-up weighed
    u, s, vt = np.linalg.svd(np.swapaxes(weighted, -1, -2) @ src)
    d = np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)
    u[..., :, -1] *= d[..., None]
    return u @ vt, s[..., :-1].sum(-1) + d * s[..., -1], d < 0


def rigid_fit(rest: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) best turning rest directions (K, 3) onto the frame's (T, K, 3)."""
    return best_rotation(np.broadcast_to(rest, now.shape), now)[0]


def similarity_align(src: np.ndarray, dst: np.ndarray, w: np.ndarray | None = None, scale: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``src`` (..., K, 3) moved onto ``dst`` by the rotation, translation and (with ``scale``) scale that
    fit it best, weighted by ``w`` (..., K) if given; also whether a mirror image of ``src`` would fit
    better still."""
    weights = np.ones(src.shape[:-1]) if w is None else np.asarray(w, np.float64)
    weights = (weights / weights.sum(-1, keepdims=True))[..., None, :]  # (..., 1, K)
    mu_s, mu_d = weights @ src, weights @ dst
    a, b = src - mu_s, dst - mu_d
    rot, trace, mirrored = best_rotation(a, b, weights[..., 0, :])
    factor = trace / np.maximum((weights @ (a * a).sum(-1, keepdims=True))[..., 0, 0], 1e-9) if scale else np.ones_like(trace)
    return factor[..., None, None] * a @ np.swapaxes(rot, -1, -2) + mu_d, mirrored
