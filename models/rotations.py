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
    # matmul, not einsum, and the mirror handled only where there is one: the live fusion runs this per
    # person and frame, where each NumPy call's fixed cost weighs more than its arithmetic
    cov = weighted.swapaxes(-1, -2) @ src
    if cov.shape == (3, 3):
        proper = _proper_polar_factor(cov.ravel().tolist())
        if proper is not None:
            rot, trace = proper
            return np.array(rot).reshape(3, 3), trace, np.False_
    u, s, vt = np.linalg.svd(cov)
    rot = u @ vt
    mirrored = np.linalg.det(rot) < 0
    if mirrored.any():  # flip the least axis: the best proper rotation
        sign = np.where(mirrored, -1.0, 1.0)
        u[..., :, -1] *= sign[..., None]
        s[..., -1] *= sign
        rot = u @ vt
    return rot, s.sum(-1), mirrored


def _proper_polar_factor(m: list[float]) -> tuple[tuple[float, ...], float] | None:
    """The rotation nearest a 3 x 3 matrix (row-major, 9 floats) and its trace against the matrix, or
    None when the nearest orthogonal matrix is a reflection (or the matrix is singular). Newton's
    iteration for the polar factor, X <- (g X + X^-T / g) / 2 with Higham's Frobenius scaling g, in
    plain floats: for one 3 x 3, NumPy's SVD costs more in call overhead, and in instructions the
    lifter step just pushed out of the cache, than the arithmetic (6 iterations reach 1e-13 for
    condition numbers up to 1e6)."""
    a, b, c, d, e, f, g, h, i = m
    if a * (e * i - f * h) + b * (f * g - d * i) + c * (d * h - e * g) <= 0.0:
        return None
    for _ in range(30):
        c00, c01, c02 = e * i - f * h, f * g - d * i, d * h - e * g  # the cofactors: det(X) X^-T
        c10, c11, c12 = c * h - b * i, a * i - c * g, b * g - a * h
        c20, c21, c22 = b * f - c * e, c * d - a * f, a * e - b * d
        det = a * c00 + b * c01 + c * c02
        norm_x = a * a + b * b + c * c + d * d + e * e + f * f + g * g + h * h + i * i
        norm_inv = (c00 * c00 + c01 * c01 + c02 * c02 + c10 * c10 + c11 * c11 + c12 * c12
                    + c20 * c20 + c21 * c21 + c22 * c22) / (det * det)
        scale = (norm_inv / norm_x) ** 0.25
        p, q = 0.5 * scale, 0.5 / (scale * det)
        a2, b2, c2 = p * a + q * c00, p * b + q * c01, p * c + q * c02
        d2, e2, f2 = p * d + q * c10, p * e + q * c11, p * f + q * c12
        g2, h2, i2 = p * g + q * c20, p * h + q * c21, p * i + q * c22
        change = (abs(a2 - a) + abs(b2 - b) + abs(c2 - c) + abs(d2 - d) + abs(e2 - e) + abs(f2 - f)
                  + abs(g2 - g) + abs(h2 - h) + abs(i2 - i))
        a, b, c, d, e, f, g, h, i = a2, b2, c2, d2, e2, f2, g2, h2, i2
        if change < 1e-13:
            break
    x = (a, b, c, d, e, f, g, h, i)
    return x, a * m[0] + b * m[1] + c * m[2] + d * m[3] + e * m[4] + f * m[5] + g * m[6] + h * m[7] + i * m[8]


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
    a = src - weights @ src
    # dst uncentred: with the weights summing to 1 and a centred, sum_k w_k dst_k a_k^T is the centred
    # cross-covariance already
    rot, trace, mirrored = best_rotation(a, dst, weights[..., 0, :])
    if scale:
        rot = rot * (np.asarray(trace)[..., None, None] / np.maximum(weights @ (a * a).sum(-1, keepdims=True), 1e-9))
    return a @ rot.swapaxes(-1, -2) + weights @ dst, mirrored
