"""Gravity and floor: the floor plane under a person, fitted to where their feet touch it, and the
rotation from camera axes to a gravity-aligned world.

World axes (the exports' "Y up"): Y up, X along the camera's x laid flat on the floor, Z towards
the camera (right-handed), so a level camera gives ``(x, -y, -z)`` of the camera axes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

CAMERA_UP = np.array([0.0, -1.0, 0.0])  # a level camera's up, in camera axes (y points down)
# Contact points spread over this distance (m) weigh as much as the prior on the floor's tilt (the
# body's mean trunk axis; chosen on Human3.6M training subjects): a person standing still leaves the
# tilt to the prior, a walk across the room decides it along the way walked.
PRIOR_SPREAD_M = 0.3
# Candidate planes for the floor: through three contact points (tilted at most this far from the prior
# up) or level with the prior through one; this many of each, drawn with a fixed seed (repeatable).
LEVEL_MAX_TILT_DEG = 25.0
LEVEL_TRIALS = 96
LEVEL_MIN_SHARE = 0.15  # a level holds at least this share of the contact points


def camera_to_y_up(points: np.ndarray) -> np.ndarray:
    """Camera axes (x right, y down, z forward) -> Y up, Z towards the camera (a right-handed turn)."""
    return points * np.array([1.0, -1.0, -1.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def fit_up(points_mm: np.ndarray, prior_up: np.ndarray, prior_spread_m: float = PRIOR_SPREAD_M) -> np.ndarray:
    """The floor's upward normal (camera axes) from contact points (N, 3) mm, regularised towards
    ``prior_up``: the smallest eigenvector of the points' scatter minus ``spread^2 n0 n0^T``, i.e.
    the normal that trades out-of-plane scatter against tilt away from the prior."""
    n0 = _unit(np.asarray(prior_up, np.float64))
    pts = np.asarray(points_mm, np.float64)
    pts = pts[np.isfinite(pts).all(-1)] / 1000.0
    if len(pts) < 3:
        return n0
    d = pts - pts.mean(0)
    scatter = d.T @ d / len(d) - prior_spread_m**2 * np.outer(n0, n0)
    n = np.linalg.eigh(scatter)[1][:, 0]
    return n if n @ n0 >= 0 else -n


def lowest_level(points_mm: np.ndarray, prior_up: np.ndarray, band_mm: float) -> np.ndarray:
    """Which contact points (N, 3) mm lie on the floor: the lowest plane (nearly square to
    ``prior_up``) that at least ``LEVEL_MIN_SHARE`` of them lie within ``band_mm`` of. People also
    stand on roofs, stairs and tables, whose feet would tilt or lift a plane fitted to all of them.
    Returns a (N,) bool mask; all of them when they are too few to tell levels apart."""
    pts = np.asarray(points_mm, np.float64)
    n0 = _unit(np.asarray(prior_up, np.float64))
    if len(pts) < 4:
        return np.ones(len(pts), bool)
    rng = np.random.default_rng(0)
    a, b, c = (pts[rng.integers(0, len(pts), LEVEL_TRIALS)] for _ in range(3))
    normals = np.cross(b - a, c - a)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True).clip(1e-9)
    normals *= np.sign(normals @ n0)[:, None]
    upright = normals @ n0 > np.cos(np.radians(LEVEL_MAX_TILT_DEG))
    normals = np.vstack([normals[upright], np.repeat(n0[None], LEVEL_TRIALS, 0)])
    anchors = np.vstack([a[upright], pts[rng.integers(0, len(pts), LEVEL_TRIALS)]])
    near = np.abs(np.einsum("tnk,tk->tn", pts[None] - anchors[:, None], normals)) < band_mm  # (T, N)
    support = near.sum(1)
    ok = support >= LEVEL_MIN_SHARE * len(pts)
    if not ok.any():
        return np.ones(len(pts), bool)
    # How high each plane's points stand along the prior (a plane tilted across two levels stands
    # between them); the planes of the lowest level, and of those the best supported.
    level = (near * (pts @ n0)).sum(1) / support.clip(1)
    low = ok & (level < level[ok].min() + band_mm)
    return near[np.flatnonzero(low)[np.argmax(support[low])]]


def up_from_tilt(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The world's up in camera axes for a camera pitched down by ``pitch_deg`` and rolled clockwise
    by ``roll_deg`` (a user-set camera tilt)."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    up = np.array([0.0, -np.cos(p), -np.sin(p)])  # pitched down: up leans towards the camera's -z
    c, s = np.cos(r), np.sin(r)
    return np.array([c * up[0] - s * up[1], s * up[0] + c * up[1], up[2]])


def tilt_of(up: np.ndarray) -> tuple[float, float]:
    """(pitch down, roll) in degrees of a camera whose world up is ``up`` (camera axes)."""
    up = _unit(up)
    pitch = np.degrees(np.arcsin(np.clip(-up[2], -1, 1)))
    roll = np.degrees(np.arctan2(up[0], -up[1]))
    return float(pitch), float(roll)


def world_rotation(up: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) taking camera-axis vectors to world axes (rows: world X, Y, Z in camera axes)."""
    y = _unit(up)
    z = -np.array([0.0, 0.0, 1.0])
    z = _unit(z - (z @ y) * y)  # towards the camera, laid flat
    x = np.cross(y, z)
    return np.stack([x, y, z])


@dataclass(frozen=True)
class Ground:
    """The floor seen from the camera: ``up`` (camera axes, unit) and the camera's height above the
    floor (mm). World = ``rotation @ camera + (0, camera_height_mm, 0)``: the camera stands at the
    world origin's vertical, the floor is Y = 0."""
    up: tuple[float, float, float]
    camera_height_mm: float

    @cached_property
    def rotation(self) -> np.ndarray:
        return world_rotation(np.array(self.up))

    def to_world(self, points_cam_mm: np.ndarray) -> np.ndarray:
        return np.asarray(points_cam_mm) @ self.rotation.T + np.array([0.0, self.camera_height_mm, 0.0])

    def to_dict(self) -> dict:
        pitch, roll = tilt_of(np.array(self.up))
        return {"up": [round(float(v), 6) for v in self.up], "camera_height_mm": round(float(self.camera_height_mm), 1),
                "pitch_deg": round(pitch, 2), "roll_deg": round(roll, 2),
                "rotation": np.round(self.rotation, 6).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Ground":
        return cls(tuple(float(v) for v in d["up"]), float(d["camera_height_mm"]))
