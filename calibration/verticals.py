"""Gravity from the scene: image line segments meeting at the vertical vanishing point, and the fusion of up-direction evidence."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import cv2
import numpy as np

from .camera import Camera
from .floor import up_from_tilt

IMAGE_UP = np.array([0.0, -1.0, 0.0])  # up for a camera held level with the frame as displayed (y points down)
MAX_TILT_DEG = 40.0  # the vertical vanishing direction lies within this angle of the prior up
INLIER_DEG = 1.0  # a segment's direction within this angle of the line towards the vanishing point
MIN_LENGTH = 0.03  # segments shorter than this share of the image's longer side are ignored
# Frames are detected at this size (long side), smaller ones enlarged: finer is markedly better, and on
# an enlarged small frame LSD places the segments better (Pose2Sim's views at half size: 0.5° mean, 0.7°
# at most, against 1.5° and 3.8° detected as they are).
DETECT_SIDE_PX = 1920
MIN_INLIERS = 5
MIN_INLIER_LENGTH = 1.0  # total inlier length, in image long sides
SYSTEMATIC_DEG = 1.0  # man-made "verticals" are not all plumb, nor is any lens model exact
LINE_CAP = 0.1  # one line weighs at most this many image sides of length
COLLINEAR_DEG = 0.5  # segments whose interpretation planes agree this well lie on one line
RIVAL_SHARE = 0.7  # hypotheses scoring this share of the best widen the uncertainty by their spread
PAIRS = 1500
SEED = 0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


def _tangent_basis(u: np.ndarray) -> np.ndarray:
    """Two unit vectors (3, 2) spanning the plane orthogonal to unit ``u``."""
    a = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    b1 = _unit(np.cross(u, a))
    return np.stack([b1, np.cross(u, b1)], 1)


def _log_map(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Tangent vectors (..., 3) at unit ``u`` towards unit ``v`` (..., 3), as long as the angle between them."""
    w = v - (v @ u)[..., None] * u
    s = np.linalg.norm(w, axis=-1, keepdims=True)
    return w / s.clip(1e-12) * np.arctan2(s, (v @ u)[..., None])


@dataclass(frozen=True)
class UpEstimate:
    """One piece of evidence for the up direction in camera axes (x right, y down, z forward).

    ``cov`` (3, 3), rad^2, is the covariance of the direction in the plane tangent to ``up`` (rank 2);
    ``sigma_deg`` its RMS over the two tangent axes. ``inliers``/``inlier_length_px`` say how many
    segments and how many pixels of them back a scene estimate in the frame that holds the most of
    them, ``index`` which of the segments fitted."""
    up: np.ndarray
    cov: np.ndarray
    source: str = ""
    inliers: int = 0
    inlier_length_px: float = 0.0
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def sigma_deg(self) -> float:
        return float(np.degrees(np.sqrt(max(np.trace(self.cov), 0.0) / 2)))

    @classmethod
    def isotropic(cls, up: Sequence[float], sigma_deg: float, source: str = "") -> "UpEstimate":
        """Evidence with the same uncertainty ``sigma_deg`` in every direction (a plumb line, a feet plane)."""
        u = _unit(np.asarray(up, np.float64))
        b = _tangent_basis(u)
        return cls(u, np.radians(sigma_deg) ** 2 * b @ b.T, source)


def holding_prior(pitch_deg: float = 0.0, pitch_sigma_deg: float = 20.0, roll_sigma_deg: float = 10.0) -> UpEstimate:
    """How people hold a camera: upright with the frame as displayed (roll ~0, ``roll_sigma_deg``) and
    pitched down by about ``pitch_deg`` (``pitch_sigma_deg``). Roll moves up along the camera's x,
    pitch along its z (``floor.up_from_tilt``'s convention)."""
    p = np.radians(pitch_deg)
    up = up_from_tilt(pitch_deg)
    along_pitch = np.array([0.0, np.sin(p), -np.cos(p)])
    cov = (np.radians(roll_sigma_deg) ** 2 * np.outer([1.0, 0, 0], [1.0, 0, 0])
           + np.radians(pitch_sigma_deg) ** 2 * np.outer(along_pitch, along_pitch))
    return UpEstimate(up, cov, "holding")


def combine_up(estimates: Iterable[UpEstimate | None], iterations: int = 8) -> UpEstimate | None:
    """The inverse-variance fusion of independent up directions on the sphere (Gauss-Newton on the
    tangent plane, starting from the most certain); None entries are skipped, None when none is left."""
    ests = [e for e in estimates if e is not None]
    if not ests:
        return None
    infos = [np.linalg.pinv(e.cov, rcond=1e-12, hermitian=True) for e in ests]
    u = _unit(np.asarray(min(ests, key=lambda e: e.sigma_deg).up, np.float64))
    total = np.eye(2)
    for _ in range(iterations):
        b = _tangent_basis(u)
        total, rhs = np.zeros((2, 2)), np.zeros(2)
        for e, info in zip(ests, infos):
            r = b.T @ _log_map(u, _unit(np.asarray(e.up, np.float64)))
            j = b.T @ info @ b
            total += j
            rhs += j @ r
        step = np.linalg.solve(total + 1e-12 * np.eye(2), rhs)
        angle = np.linalg.norm(step)
        t = b @ step
        u = u if angle < 1e-12 else _unit(np.cos(angle) * u + np.sin(angle) * t / angle)
        if angle < 1e-9:
            break
    b = _tangent_basis(u)
    cov = b @ np.linalg.inv(total + 1e-12 * np.eye(2)) @ b.T
    return UpEstimate(u, cov, "+".join(e.source for e in ests if e.source))


@dataclass(frozen=True)
class Segments:
    """Line segments seen through a camera: endpoints ``pixels`` (N, 4) as detected, interpretation-plane
    normals ``normals`` (N, 3) and midpoint rays ``mids`` (N, 3) (unit, lens distortion removed), their
    pixel ``length`` (N,), ``share`` (N,): 1 / the number of frames pooled (a static camera sees the
    same lines in every frame, so pooled frames weigh as one), and the ``frame`` (N,) each came from."""
    pixels: np.ndarray
    normals: np.ndarray
    mids: np.ndarray
    length: np.ndarray
    share: np.ndarray
    image_side: float
    frame: np.ndarray

    def __len__(self) -> int:
        return len(self.length)

    @classmethod
    def concat(cls, parts: Sequence["Segments"]) -> "Segments":
        """Segments of several frames pooled (each frame's share divided by their number)."""
        k = max(len(parts), 1)
        return cls(*(np.concatenate([getattr(p, a) for p in parts]) if parts else np.zeros((0,) + s)
                     for a, s in (("pixels", (4,)), ("normals", (3,)), ("mids", (3,)), ("length", ()))),
                   np.concatenate([p.share / k for p in parts]) if parts else np.zeros(0),
                   max((p.image_side for p in parts), default=1.0),
                   np.concatenate([np.full(len(p), n) for n, p in enumerate(parts)]) if parts else np.zeros(0, int))


def _exclusion(shape: tuple[int, int], exclude: np.ndarray | Sequence | None) -> np.ndarray | None:
    """A (H, W) bool mask of the pixels to ignore: given as such, or as boxes (N, 4) x0, y0, x1, y1."""
    if exclude is None:
        return None
    ex = np.asarray(exclude)
    if ex.dtype == bool and ex.shape == shape:
        return ex
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in ex.reshape(-1, 4):
        if np.isfinite([x0, y0, x1, y1]).all():
            mask[max(int(y0), 0):max(int(np.ceil(y1)), 0), max(int(x0), 0):max(int(np.ceil(x1)), 0)] = True
    return mask


def detect_segments(image_bgr: np.ndarray, camera: Camera, exclude: np.ndarray | Sequence | None = None) -> Segments:
    """The image's long line segments, less those mostly on ``exclude`` (a bool mask or person boxes
    x0, y0, x1, y1 in pixels)."""
    gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    cam = camera.resized(w, h) if (w, h) != (camera.width, camera.height) else camera
    scale = DETECT_SIDE_PX / max(h, w)
    sized = gray if scale == 1 else cv2.resize(gray, None, fx=scale, fy=scale,
                                               interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(sized)[0]
    seg = np.zeros((0, 4)) if found is None else found.reshape(-1, 4).astype(np.float64) / scale
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    seg, length = seg[length >= MIN_LENGTH * max(h, w)], length[length >= MIN_LENGTH * max(h, w)]
    # frame borders and letterbox edges are no part of the scene
    margin = 4.0
    def on_edge(a, b, hi):
        return ((np.abs(a) < margin) & (np.abs(b) < margin)) | ((np.abs(a - hi) < margin) & (np.abs(b - hi) < margin))
    edge = on_edge(seg[:, 0], seg[:, 2], w - 1) | on_edge(seg[:, 1], seg[:, 3], h - 1)
    seg, length = seg[~edge], length[~edge]
    mask = _exclusion((h, w), exclude)
    if mask is not None and len(seg):
        t = np.linspace(0, 1, 9)
        xs = np.clip(seg[:, None, 0] + t * (seg[:, None, 2] - seg[:, None, 0]), 0, w - 1).astype(int)
        ys = np.clip(seg[:, None, 1] + t * (seg[:, None, 3] - seg[:, None, 1]), 0, h - 1).astype(int)
        keep = mask[ys, xs].mean(1) < 0.25
        seg, length = seg[keep], length[keep]
    ends = np.concatenate([cam.rays(seg[:, :2]), np.ones((len(seg), 1))], 1), \
        np.concatenate([cam.rays(seg[:, 2:]), np.ones((len(seg), 1))], 1)
    normals = _unit(np.cross(*ends))
    mids = _unit(_unit(ends[0]) + _unit(ends[1]))
    return Segments(seg, normals, mids, length, np.ones(len(seg)), float(max(h, w)), np.zeros(len(seg), int))


def _residuals(seg: Segments, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's angle (sin) off the great circle from its midpoint to ``d`` (..., N), and the
    sine of its midpoint's distance to ``d``: the residual as an error of the segment's direction."""
    far = np.linalg.norm(np.cross(seg.mids, d[..., None, :]), axis=-1).clip(np.sin(np.radians(5.0)))
    return np.abs(np.einsum("nk,...k->...n", seg.normals, d)) / far, far


def _line_weights(seg: Segments) -> np.ndarray:
    """Each segment's weight: its length, less where it is a piece of a longer line (segments in one
    interpretation plane) that already holds ``LINE_CAP`` image sides: one long edge, broken or seen
    in many frames, must not outweigh many distinct verticals."""
    w = seg.length * seg.share
    if not len(w):
        return w
    near = np.cos(np.radians(COLLINEAR_DEG))
    total = np.concatenate([(np.abs(seg.normals[i:i + 2048] @ seg.normals.T) > near).astype(np.float64) @ w
                            for i in range(0, len(w), 2048)])
    return w * np.minimum(1.0, LINE_CAP * seg.image_side / total)


def _search(seg: Segments, weight: np.ndarray, prior_up: np.ndarray, max_tilt_deg: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """RANSAC over segment pairs: the direction within ``max_tilt_deg`` of ``prior_up`` that the most
    segment length points at (truncated quadratic score): every hypothesis (H, 3) and its score (H,)."""
    d0 = _unit(np.asarray(prior_up, np.float64))
    cand = np.flatnonzero(np.abs(seg.normals @ d0) < np.sin(np.radians(max_tilt_deg)))
    if len(cand) < 2:
        return np.zeros((0, 3)), np.zeros(0)
    p = weight[cand]
    i = rng.choice(cand, PAIRS, p=p / p.sum())
    j = rng.choice(cand, PAIRS, p=p / p.sum())
    d = np.cross(seg.normals[i], seg.normals[j])
    norm = np.linalg.norm(d, axis=-1)
    d = d[norm > 0.02] / norm[norm > 0.02, None]
    d *= np.sign(d @ d0)[:, None]
    d = d[d @ d0 > np.cos(np.radians(max_tilt_deg))]
    if not len(d):
        return np.zeros((0, 3)), np.zeros(0)
    d = np.unique(np.round(d, 6), axis=0)
    res, _ = _residuals(seg, d)
    t = np.sin(np.radians(INLIER_DEG))
    score = ((1 - (res / t) ** 2).clip(0) * weight).sum(-1)
    return d, score


def _refine(seg: Segments, weight: np.ndarray, d: np.ndarray, d0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares on the inliers, re-selected a few times: (direction, inlier mask, tangent covariance)."""
    t = np.sin(np.radians(INLIER_DEG))
    for _ in range(4):
        res, far = _residuals(seg, d)
        inl = res < t
        if inl.sum() < 2:
            break
        w = weight[inl] / far[inl] ** 2
        m = (seg.normals[inl].T * w) @ seg.normals[inl]
        vecs = np.linalg.eigh(m)[1]
        d = vecs[:, 0] * np.sign(vecs[:, 0] @ d0)
    res, far = _residuals(seg, d)
    inl = res < t
    w = weight[inl] / far[inl] ** 2
    m = (seg.normals[inl].T * w) @ seg.normals[inl]
    b = _tangent_basis(d)
    cost = float(((seg.normals[inl] @ d) ** 2 * w).sum())
    dof = max(float(seg.share[inl].sum()) - 2.0, 1.0)  # pooled frames count once
    sigma2 = cost / dof  # residual variance per unit weight (weights are inverse variances up to scale)
    hess = b.T @ m @ b - cost * np.eye(2)
    cov = b @ (sigma2 * np.linalg.inv(hess + 1e-12 * np.eye(2))) @ b.T
    return d, inl, cov


def fit_scene_up(seg: Segments, prior_up: np.ndarray = IMAGE_UP, max_tilt_deg: float = MAX_TILT_DEG,
                 systematic_deg: float = SYSTEMATIC_DEG) -> UpEstimate | None:
    """The vertical vanishing direction of ``seg`` as an up estimate, or None when too few segments
    back it. ``prior_up`` decides which family of lines is the plumb one: a frame shown on its side
    needs the prior turned with it (e.g. the bodies' up), or it takes level lines for plumb ones."""
    d0 = _unit(np.asarray(prior_up, np.float64))
    rng = np.random.default_rng(SEED)
    weight = _line_weights(seg)
    hyp, score = _search(seg, weight, d0, max_tilt_deg, rng)
    if not len(hyp):
        return None
    d, inl, cov = _refine(seg, weight, hyp[np.argmax(score)], d0)
    # other directions that nearly as much length points at: the spread among them is an uncertainty
    # that no residual shows (a long level edge passing for plumb, a family of level lines far away)
    close = score >= RIVAL_SHARE * score.max()
    off = _log_map(d, hyp[close])
    spread = (off.T * score[close]) @ off / score[close].sum()
    # Enough evidence when one frame holds it: people hide some lines in some frames, and a line hidden in
    # half the pooled frames weighs half in the pool.
    n_eff = float(np.bincount(seg.frame[inl]).max(initial=0))
    length = float(np.bincount(seg.frame[inl], weights=seg.length[inl]).max(initial=0.0))
    if n_eff < MIN_INLIERS or length < MIN_INLIER_LENGTH * seg.image_side or d @ d0 < np.cos(np.radians(max_tilt_deg)):
        return None
    b = _tangent_basis(d)
    cov = cov + spread + np.radians(systematic_deg) ** 2 * b @ b.T
    return UpEstimate(d, cov, "scene", int(round(n_eff)), length, np.flatnonzero(inl))


def scene_up(image_bgr: np.ndarray, camera: Camera, exclude: np.ndarray | Sequence | None = None,
             prior_up: np.ndarray = IMAGE_UP, max_tilt_deg: float = MAX_TILT_DEG) -> UpEstimate | None:
    """Up (camera axes) from one frame's vertical lines (walls, doors, poles, window frames), ignoring
    ``exclude`` (a bool mask or person boxes); None when the frame has too little to say."""
    return fit_scene_up(detect_segments(image_bgr, camera, exclude), prior_up, max_tilt_deg)
