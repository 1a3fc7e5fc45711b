"""Joint and segment angles of H36M-17 poses, in degrees, the way gait and sports analyses read them.

Poses are (..., 17, 3) with Y up (gravity-aligned world; a root-relative clip turned Y up stands in
with a level camera's up). Body frames follow the ISB habit, X forward, Y up, Z to the right:

- pelvis frame: Z from the left to the right hip joint, Y along the pelvis-to-spine axis (made
  perpendicular), X = Y x Z, the way the pelvis faces;
- thorax frame: Z from the left to the right shoulder, Y along spine-to-thorax, X = Y x Z.

Angles (``_l`` / ``_r`` per side):

- ``hip_flexion``: the thigh (hip -> knee) swung forward of the pelvis's downward axis, in its
  sagittal plane (positive forward); ``hip_abduction``: swung outward (positive away from the midline);
- ``knee_flexion`` / ``elbow_flexion``: 0 straight, positive bent (the angle between the two bones;
  hyperextension reads as a small flexion, three points cannot tell them apart);
- ``shank_inclination``: the shank (knee -> ankle) leaning forward of the vertical, in the heading's
  sagittal plane. H36M-17 has no foot, so the ankle joint angle itself cannot be measured; the shank's
  inclination is the gait measure that can;
- ``shoulder_flexion`` / ``shoulder_abduction``: the upper arm relative to the thorax frame, as the hip's;
- ``trunk_flexion`` / ``trunk_lateral``: pelvis -> thorax leaning forward / to the right of the vertical;
- ``pelvis_tilt`` (pelvis-to-spine axis forward of the vertical), ``pelvis_obliquity`` (right hip up,
  positive), ``pelvis_rotation`` (heading about the vertical; 0 facing world +Z, i.e. the camera,
  positive turning towards +X).
"""
from __future__ import annotations

import numpy as np

from .skeletons import H36M

UP = np.array([0.0, 1.0, 0.0])
SIDES = (("l", "left", -1.0), ("r", "right", 1.0))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-9)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1)


def _frame(lateral: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = _unit(lateral)
    y = _unit(up - _dot(up, z)[..., None] * z)
    return np.cross(y, z), y, z


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The angle (deg) between vectors (..., 3)."""
    return np.degrees(np.arccos(np.clip(_dot(_unit(a), _unit(b)), -1.0, 1.0)))


def _swing(d: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Flexion and abduction (deg) of a limb ``d`` hanging along -y of the frame (x, y, z)."""
    down = -_dot(d, y)
    return (np.degrees(np.arctan2(_dot(d, x), down)), np.degrees(np.arctan2(side * _dot(d, z), down)))


def joint_angles(pose: np.ndarray) -> dict[str, np.ndarray]:
    """Every angle of the module docstring for poses (..., 17, 3), Y up: name -> (...) degrees."""
    p = np.asarray(pose, np.float64)
    j = {name: p[..., i, :] for i, name in enumerate(H36M.joints)}
    px, py, pz = _frame(j["right_hip"] - j["left_hip"], j["spine"] - j["pelvis"])
    tx, ty, tz = _frame(j["right_shoulder"] - j["left_shoulder"], j["thorax"] - j["spine"])
    heading = _unit(px - _dot(px, UP)[..., None] * UP)  # the pelvis's forward, laid on the floor
    right = np.cross(heading, UP)
    out: dict[str, np.ndarray] = {}
    for s, side, sign in SIDES:
        hip, knee, ankle = j[f"{side}_hip"], j[f"{side}_knee"], j[f"{side}_ankle"]
        shoulder, elbow, wrist = j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]
        out[f"hip_flexion_{s}"], out[f"hip_abduction_{s}"] = _swing(knee - hip, px, py, pz, sign)
        out[f"knee_flexion_{s}"] = angle_between(knee - hip, ankle - knee)
        shank = ankle - knee
        out[f"shank_inclination_{s}"] = np.degrees(np.arctan2(-_dot(shank, heading), -_dot(shank, UP)))
        out[f"shoulder_flexion_{s}"], out[f"shoulder_abduction_{s}"] = _swing(elbow - shoulder, tx, ty, tz, sign)
        out[f"elbow_flexion_{s}"] = angle_between(elbow - shoulder, wrist - elbow)
    trunk = j["thorax"] - j["pelvis"]
    out["trunk_flexion"] = np.degrees(np.arctan2(_dot(trunk, heading), _dot(trunk, UP)))
    out["trunk_lateral"] = np.degrees(np.arctan2(_dot(trunk, right), _dot(trunk, UP)))
    out["pelvis_tilt"] = np.degrees(np.arctan2(_dot(py, heading), _dot(py, UP)))
    out["pelvis_obliquity"] = np.degrees(np.arcsin(np.clip(_dot(pz, UP), -1, 1)))
    out["pelvis_rotation"] = np.degrees(np.arctan2(heading[..., 0], heading[..., 2]))
    return out


ANGLE_NAMES = tuple(f"{angle}_{s}" for s, _, _ in SIDES for angle in (
    "hip_flexion", "hip_abduction", "knee_flexion", "shank_inclination", "shoulder_flexion", "shoulder_abduction",
    "elbow_flexion")) + ("trunk_flexion", "trunk_lateral", "pelvis_tilt", "pelvis_obliquity", "pelvis_rotation")


def angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` in degrees, wrapped into [-180, 180)."""
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0
