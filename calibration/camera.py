"""Pinhole camera with Brown-Conrady distortion (3 radial, 2 tangential), the Human3.6M convention.

Extrinsics: ``R`` rotates world into camera axes and ``T`` is the camera centre in world
millimetres, so ``X_cam = R @ (X_world - T)``. Camera axes: x right, y down, z forward.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import UserError

# The field of view guessed across the frame's longer side where nothing says it: a phone's main camera
# filming landscape video.
GUESSED_HFOV_DEG = 60.0


class CalibrationError(UserError, ValueError):
    """A calibration file is missing, malformed, or made for another image size."""


@dataclass(frozen=True)
class Camera:
    f: tuple[float, float]
    c: tuple[float, float]
    width: int
    height: int
    k: tuple[float, float, float] = (0.0, 0.0, 0.0)
    p: tuple[float, float] = (0.0, 0.0)
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    T: np.ndarray = field(default_factory=lambda: np.zeros(3))
    DISTORTION: ClassVar[str] = "human36m"  # the form of the tangential term (``to_dict``'s "distortion")

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = GUESSED_HFOV_DEG) -> "Camera":
        """Intrinsics guessed from a field of view across the frame's longer side (horizontal in a
        landscape frame): a phone held upright films through the same lens as held level, so its
        portrait video spans the same angle along its height. Square pixels, centred principal point."""
        if not 1.0 < hfov_deg < 179.0:
            raise ValueError(f"field of view {hfov_deg} deg is out of range: give 1..179 degrees.")
        f = 0.5 * max(width, height) / math.tan(math.radians(hfov_deg) / 2)
        return cls(f=(f, f), c=(width / 2, height / 2), width=width, height=height)

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        """From ``{f, c, width, height[, k, p, R, T, distortion]}`` (the Human3.6M ``cameras.json`` entry
        layout; ``distortion``: the tangential term's form, "human36m" when absent, or "opencv")."""
        missing = {"f", "c", "width", "height"} - set(d)
        if missing:
            raise ValueError(f"camera entry lacks {sorted(missing)}: expected keys f, c, width, height (k, p, R, T optional).")
        forms = {kind.DISTORTION: kind for kind in (Camera, OpenCVCamera)}
        form = d.get("distortion", Camera.DISTORTION)
        if form not in forms:
            raise ValueError(f"camera entry's distortion {form!r} is not one of {', '.join(forms)}.")
        return forms[form](
            f=tuple(map(float, d["f"])), c=tuple(map(float, d["c"])),
            width=int(d["width"]), height=int(d["height"]),
            k=tuple(map(float, d.get("k", (0, 0, 0)))), p=tuple(map(float, d.get("p", (0, 0)))),
            R=np.asarray(d.get("R", np.eye(3)), dtype=np.float64).reshape(3, 3),
            T=np.asarray(d.get("T", np.zeros(3)), dtype=np.float64).reshape(3),
        )

    @classmethod
    def load(cls, path: str | Path) -> "Camera":
        """A camera from a JSON file holding one ``from_dict`` entry."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise CalibrationError(f"camera file {path} does not exist: pass a camera JSON ({{f, c, width, height}}, "
                                   f"optionally k and p) or leave --camera out and set --fov.") from None
        except (ValueError, TypeError, AttributeError) as e:
            raise CalibrationError(f"camera file {path} is not a camera JSON ({e}).") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    def to_dict(self) -> dict:
        return {"f": list(self.f), "c": list(self.c), "width": self.width, "height": self.height,
                "k": list(self.k), "p": list(self.p), "R": np.asarray(self.R).tolist(), "T": np.asarray(self.T).tolist(),
                "distortion": self.DISTORTION}

    def resized(self, width: int, height: int) -> "Camera":
        """The same camera for frames scaled to ``width`` x ``height`` (same aspect ratio)."""
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1) > 0.01:
            raise CalibrationError(f"the camera calibration is for {self.width}x{self.height} frames, which do not "
                                   f"scale to {width}x{height}: calibrate this camera mode or drop the calibration.")
        return dataclasses.replace(self, f=(self.f[0] * sx, self.f[1] * sy), c=(self.c[0] * sx, self.c[1] * sy),
                                   width=width, height=height)

    @property
    def distorted(self) -> bool:
        return any(self.k) or any(self.p)

    @property
    def focal(self) -> float:
        """The single focal length used to normalise the image plane (mean of fx and fy)."""
        return 0.5 * (self.f[0] + self.f[1])

    def world_to_camera(self, x_world: np.ndarray) -> np.ndarray:
        return (np.asarray(x_world) - self.T) @ np.asarray(self.R).T

    def camera_to_world(self, x_cam: np.ndarray) -> np.ndarray:
        return np.asarray(x_cam) @ np.asarray(self.R) + self.T

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Apply lens distortion to ideal normalised coordinates (x/z, y/z)."""
        if not self.distorted:
            return xy
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        k1, k2, k3 = self.k
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        dx, dy = self._tangential(x, y, r2)
        return np.stack([x * radial + dx, y * radial + dy], axis=-1)

    def _tangential(self, x: np.ndarray, y: np.ndarray, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tangential term, in the form Human3.6M's calibration was fitted with."""
        p1, p2 = self.p
        tan = p2 * x + p1 * y
        return x * tan + p2 * r2, y * tan + p1 * r2

    def undistort(self, xy_d: np.ndarray, iterations: int = 10) -> np.ndarray:
        """Invert :meth:`distort` by fixed-point iteration (exact to well under a pixel in practice)."""
        if not self.distorted:
            return xy_d
        xy = xy_d.copy()
        for _ in range(iterations):
            xy = xy + (xy_d - self.distort(xy))
        return xy

    def project(self, x_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) in mm -> pixels (..., 2), distortion included."""
        x_cam = np.asarray(x_cam, dtype=np.float64)
        xy = x_cam[..., :2] / x_cam[..., 2:3]
        xy = self.distort(xy)
        return xy * np.asarray(self.f) + np.asarray(self.c)

    def inside(self, uv: np.ndarray) -> np.ndarray:
        """Which pixel points (..., 2) fall inside the image: (...) bool."""
        uv = np.asarray(uv)
        return (uv[..., 0] >= 0) & (uv[..., 0] < self.width) & (uv[..., 1] >= 0) & (uv[..., 1] < self.height)

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """Pixels -> viewing rays as ideal normalised coordinates (x/z, y/z), lens distortion removed."""
        return self.undistort((np.asarray(uv, dtype=np.float64) - np.asarray(self.c)) / np.asarray(self.f))

    def normalize(self, uv: np.ndarray) -> np.ndarray:
        """Pixels -> the lifter's image plane ``((u - cx) / f, (v - cy) / f)``, lens distortion removed."""
        return self.rays(uv) * (np.asarray(self.f) / self.focal)

    def denormalize(self, xy: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize`."""
        xy = np.asarray(xy, dtype=np.float64) * self.focal / np.asarray(self.f)
        return self.distort(xy) * np.asarray(self.f) + np.asarray(self.c)


@dataclass(frozen=True)
class OpenCVCamera(Camera):
    """A :class:`Camera` whose tangential distortion takes OpenCV's form (Qualisys, Pose2Sim, OpenCV TOML),
    not Human3.6M's."""
    DISTORTION: ClassVar[str] = "opencv"

    def _tangential(self, x: np.ndarray, y: np.ndarray, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p1, p2 = self.p
        return 2 * p1 * x * y + p2 * (r2 + 2 * x * x), p1 * (r2 + 2 * y * y) + 2 * p2 * x * y

