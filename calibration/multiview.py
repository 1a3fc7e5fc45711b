"""Calibrated multi-camera rigs: Qualisys and Pose2Sim/OpenCV calibrations, people matched across views, robust triangulation."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from ..models.skeletons import MEDIAPIPE
from .camera import CalibrationError, Camera
from .floor import Ground

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v")
QUALISYS_SUBPIXELS = 64  # Qualisys writes intrinsics in 1/64 pixel
FLIP_YZ = np.diag([1.0, -1.0, -1.0])  # Qualisys camera axes (y up, looking down -z) -> OpenCV's
MIN_WEIGHT = 0.3  # landmarks less visible than this are left out of triangulation and matching
# A view disagrees with a joint when it reprojects further than this share of the person's size in
# that view (the diagonal of their box), or MIN_GATE_PX for a small person.
GATE_SHARE = 0.04
MIN_GATE_PX = 12.0
TRACK_GATE = 0.25  # a detection continues a known person: median joint distance / person size
EPIPOLAR_GATE = 0.06  # two views' detections are one person: median epipolar distance / person size
# A matched view is dropped when its median joint reprojects further than this (/ person size): another
# person's detection is 0.3 or more off; a well calibrated view of the right one, 0.01-0.06.
VIEW_GATE = 0.12
REIDENTIFY_MM = 600.0  # a person lost and found again within this distance (median joint) keeps their id
SCALE_MM = 1000.0  # triangulation works in metres about the rig's centre (a well-conditioned DLT)


@dataclass(frozen=True)
class OpenCVCamera(Camera):
    """A :class:`Camera` whose tangential distortion takes OpenCV's form (Qualisys, Pose2Sim, OpenCV TOML),
    not Human3.6M's. ``to_dict`` keeps no trace of the form: reloaded, it models p1, p2 as Human3.6M's."""

    def distort(self, xy: np.ndarray) -> np.ndarray:
        if not self.distorted:
            return xy
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        k1, k2, k3 = self.k
        p1, p2 = self.p
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def resized(self, width: int, height: int) -> OpenCVCamera:
        return OpenCVCamera(**vars(Camera.resized(self, width, height)))


# -- reading calibrations ------------------------------------------------------------------------------

def read_calibration(path: str | Path) -> dict[str, Camera]:
    """The cameras of a Qualisys ``.qca.txt`` or a Pose2Sim/OpenCV ``.toml`` calibration, by name, in the
    file's order. ``path`` may also be a folder holding exactly one such file."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.name.lower().endswith((".qca.txt", ".qca", ".toml")))
        if len(found) != 1:
            raise CalibrationError(f"{path} holds {len(found)} calibration files ({', '.join(p.name for p in found) or 'none'}): "
                                   f"leave exactly one .qca.txt or .toml there.")
        path = found[0]
    if not path.is_file():
        raise CalibrationError(f"calibration {path} does not exist: give a Qualisys .qca.txt or a Pose2Sim .toml file.")
    if path.suffix.lower() == ".toml":
        return read_toml(path)
    if path.name.lower().endswith((".qca.txt", ".qca", ".xml")) or path.read_text(errors="replace").lstrip().startswith("<"):
        return read_qualisys(path)
    raise CalibrationError(f"calibration {path} is neither a Qualisys .qca.txt nor a .toml file: convert it to one of those.")


def _floats(attrib: dict, keys: Sequence[str], what: str) -> list[float]:
    try:
        return [float(attrib[k]) for k in keys]
    except (KeyError, ValueError) as e:
        raise CalibrationError(f"{what} lacks a number for {e}: re-export the calibration from QTM.") from None


def _rotation(R: np.ndarray, what: str) -> np.ndarray:
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
        raise CalibrationError(f"{what} is not a rotation (not orthonormal, or mirrored): check the calibration file.")
    return R


def read_qualisys(path: str | Path) -> dict[str, Camera]:
    """Cameras from a Qualisys calibration (the XML of a ``.qca.txt``), named by their ``serial``."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise CalibrationError(f"calibration {path} is not readable Qualisys XML ({e}): re-export it from QTM.") from None
    cameras: dict[str, Camera] = {}
    for i, node in enumerate(root.iter("camera")):
        name = node.get("serial") or f"cam{i + 1:02d}"
        what = f"camera {name} of {path}"
        if name in cameras:
            raise CalibrationError(f"{path} names two cameras {name!r}: give each camera its own serial.")
        if node.get("viewrotation", "0") not in ("0", ""):
            raise CalibrationError(f"{what} has viewrotation {node.get('viewrotation')}: export the calibration "
                                   f"with view rotation 0 (turn the videos instead).")
        fov, transform, intrinsic = (node.find(tag) for tag in ("fov_video", "transform", "intrinsic"))
        if fov is None or transform is None or intrinsic is None:
            raise CalibrationError(f"{what} lacks fov_video, transform or intrinsic: re-export the calibration from QTM.")
        left, top, right, bottom = _floats(fov.attrib, ("left", "top", "right", "bottom"), what)
        fu, fv, cu, cv = (v / QUALISYS_SUBPIXELS for v in _floats(
            intrinsic.attrib, ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV"), what))
        k = _floats(intrinsic.attrib, ("radialDistortion1", "radialDistortion2", "radialDistortion3"), what)
        p = _floats(intrinsic.attrib, ("tangentalDistortion1", "tangentalDistortion2"), what)
        rq = np.array(_floats(transform.attrib, [f"r{i}{j}" for i in "123" for j in "123"], what)).reshape(3, 3)
        centre = np.array(_floats(transform.attrib, ("x", "y", "z"), what))
        cameras[name] = OpenCVCamera(f=(fu, fv), c=(cu - left, cv - top), width=int(right - left + 1),
                                     height=int(bottom - top + 1), k=tuple(k), p=tuple(p),
                                     R=FLIP_YZ @ _rotation(rq, what), T=centre)
    if not cameras:
        raise CalibrationError(f"{path} holds no <camera> entries: is it a Qualisys calibration?")
    return cameras


def read_toml(path: str | Path) -> dict[str, Camera]:
    """Cameras from a Pose2Sim/OpenCV TOML calibration: one table per camera with ``name``, ``size``
    (width, height), ``matrix``, ``distortions`` (k1, k2, p1, p2[, k3]), ``rotation`` (Rodrigues, world to
    camera) and ``translation`` (metres, world to camera); tables without a ``matrix`` are skipped."""
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise CalibrationError("reading a TOML calibration needs Python 3.11 or later, or `pip install tomli`.") from None
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
        raise CalibrationError(f"calibration {path} is not valid TOML ({e}): fix or re-export it.") from None
    cameras: dict[str, Camera] = {}
    for key, table in doc.items():
        if not isinstance(table, dict) or "matrix" not in table:
            continue
        name = str(table.get("name", key))
        what = f"camera {name} of {path}"
        if table.get("fisheye", False):
            raise CalibrationError(f"{what} is a fisheye camera, which is not supported: calibrate it with the pinhole model.")
        try:
            K = np.asarray(table["matrix"], np.float64).reshape(3, 3)
            width, height = (round(float(v)) for v in table["size"])
            dist = [float(v) for v in table.get("distortions", [0, 0, 0, 0])]
            rot = np.asarray(table["rotation"], np.float64)
            t_m = np.asarray(table["translation"], np.float64).reshape(3)
        except (KeyError, ValueError, TypeError) as e:
            raise CalibrationError(f"{what} lacks or garbles {e}: it needs size, matrix, distortions, rotation and translation.") from None
        if len(dist) not in (4, 5):
            raise CalibrationError(f"{what} has {len(dist)} distortion coefficients: give k1, k2, p1, p2 and optionally k3.")
        R = cv2.Rodrigues(rot.reshape(3, 1))[0] if rot.size == 3 else rot.reshape(3, 3)
        R = _rotation(R, what)
        if name in cameras:
            raise CalibrationError(f"{path} names two cameras {name!r}: give each camera its own name.")
        cameras[name] = OpenCVCamera(f=(K[0, 0], K[1, 1]), c=(K[0, 2], K[1, 2]), width=width, height=height,
                                     k=(dist[0], dist[1], dist[4] if len(dist) == 5 else 0.0), p=(dist[2], dist[3]),
                                     R=R, T=-R.T @ t_m * 1000.0)
    if not cameras:
        raise CalibrationError(f"{path} holds no camera tables (with a `matrix`): is it a Pose2Sim calibration?")
    return cameras


# -- cameras and videos ----------------------------------------------------------------------------------

def _natural(name: str) -> list:
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", name)]


def _number(name: str) -> int | None:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def match_videos(cameras: dict[str, Camera], videos: Sequence[str | Path]) -> dict[str, Camera]:
    """Each video's camera, keyed by the video's file stem, in the videos' natural order. The rule: by name
    when every video's stem is a camera's name (case aside); else by number, when every video's last number
    is the last number of exactly one camera's name (``cam01.mp4`` <-> ``cam1``, ``int_cam01_img``); else
    the n-th video in natural order takes the n-th camera in natural order of names (Pose2Sim's rule)."""
    stems = sorted((Path(v).stem for v in videos), key=_natural)
    names = list(cameras)
    if len(stems) != len(names):
        raise CalibrationError(f"the calibration has {len(names)} cameras ({', '.join(names)}) but there are "
                               f"{len(stems)} videos ({', '.join(stems)}): give one video per calibrated camera.")
    if len({s.lower() for s in stems}) != len(stems):
        raise CalibrationError(f"two videos share a name ({', '.join(stems)}): name each camera's video once.")
    by_name = {n.lower(): n for n in names}
    if all(s.lower() in by_name for s in stems):
        return {s: cameras[by_name[s.lower()]] for s in stems}
    numbers = [_number(n) for n in names]
    video_numbers = [_number(s) for s in stems]
    if (None not in numbers and len(set(numbers)) == len(numbers)
            and None not in video_numbers and set(video_numbers) == set(numbers)):
        return {s: cameras[names[numbers.index(k)]] for s, k in zip(stems, video_numbers)}
    return {s: cameras[n] for s, n in zip(stems, sorted(names, key=_natural))}


def video_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a video's frames as shown upright (a phone's display rotation applied)."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0), None)
    except (av.FFmpegError, OSError) as e:
        raise CalibrationError(f"video {path} cannot be read ({e}): give an MP4/MOV the camera recorded.") from None
    if frame is None:
        raise CalibrationError(f"video {path} has no frames: record it again.")
    turned = round(getattr(frame, "rotation", 0) / 90) % 2 == 1
    return (frame.height, frame.width) if turned else (frame.width, frame.height)


def fit_to_frames(camera: Camera, width: int, height: int, name: str = "camera") -> Camera:
    """The camera for frames of ``width`` x ``height`` (upright): the same, or scaled to a smaller or larger
    recording of the same aspect. A calibration made on frames turned a quarter from these is refused."""
    if (camera.width, camera.height) == (width, height):
        return camera
    if (camera.width > camera.height) != (width > height) and camera.width != camera.height:
        raise CalibrationError(f"{name} is calibrated on {camera.width}x{camera.height} frames but its video shows "
                               f"{width}x{height} upright (turned a quarter): calibrate on upright frames, or remove "
                               f"the video's rotation metadata.")
    return camera.resized(width, height)


@dataclass(frozen=True)
class Rig:
    """A recording's cameras and their videos, in the videos' natural order (``cam01``, ``cam02``, ...)."""
    names: tuple[str, ...]
    videos: tuple[Path, ...]
    cameras: tuple[Camera, ...]


def load_rig(root: str | Path) -> Rig:
    """A Pose2Sim-layout recording: ``videos/*.mp4`` and one calibration in ``calibration/`` (see
    :func:`match_videos` for which camera films which video); cameras fitted to the videos' frame size."""
    root = Path(root)
    folder = root / "videos"
    videos = sorted((p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES), key=lambda p: _natural(p.stem)) \
        if folder.is_dir() else []
    if not videos:
        raise CalibrationError(f"{folder} holds no videos: put one video per camera there (cam01.mp4, cam02.mp4, ...).")
    cameras = match_videos(read_calibration(root / "calibration"), videos)
    fitted = tuple(fit_to_frames(cameras[v.stem], *video_size(v), name=f"the camera of {v.name}") for v in videos)
    return Rig(tuple(v.stem for v in videos), tuple(videos), fitted)


def true_ground(camera: Camera, up: Sequence[float] = (0.0, 0.0, 1.0), floor_mm: float = 0.0) -> Ground:
    """The floor as the camera sees it, from a calibration whose world has ``up`` as its up and the floor
    at height ``floor_mm`` along it (the Qualisys lab: Z up, floor Z = 0): the world's up in camera axes
    and the camera's height above the floor."""
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    up_cam = np.asarray(camera.R) @ up
    return Ground(tuple(float(v) for v in up_cam), float(np.asarray(camera.T) @ up - floor_mm))


# -- triangulation ---------------------------------------------------------------------------------------

class Triangulated(NamedTuple):
    points: np.ndarray  # (..., J, 3) world mm; NaN where fewer than two views agree
    error: np.ndarray  # (..., J) pixels: RMS reprojection error over the views used; NaN where not triangulated
    views: np.ndarray  # (..., V, J) bool: the views each joint was triangulated from


def _person_size(uv: np.ndarray, valid: np.ndarray) -> np.ndarray:
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
        gate_px = np.maximum(MIN_GATE_PX, GATE_SHARE * _person_size(pts, valid))[..., None]
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
    return Triangulated(X.reshape(lead + (J, 3)), rms.reshape(lead + (J,)),
                        np.moveaxis(used.reshape(lead + (J, V)), -1, -2))


def reprojection_errors(points: np.ndarray, points_2d: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Pixel distance (..., V, J) from world joints (..., J, 3) mm, projected into each camera, to ``points_2d``
    (..., V, J, 2)."""
    X = np.asarray(points, np.float64)
    uv = np.asarray(points_2d, np.float64)
    V = len(cameras)
    flat_uv = np.moveaxis(uv, -3, -2).reshape(-1, V, 2)
    err = _pixel_errors(X.reshape(-1, 3), flat_uv, cameras)
    return np.moveaxis(err.reshape(X.shape[:-1] + (V,)), -1, -2)


# -- people across views and over time ---------------------------------------------------------------

@dataclass
class Match:
    """One person seen in two or more views of a frame."""
    detections: np.ndarray  # (V,) int: the index of their detection in each view; -1 where not seen
    points: np.ndarray  # (J, 3) world mm, NaN where not triangulated
    error: np.ndarray  # (J,) pixels, see :class:`Triangulated`
    views: np.ndarray  # (V, J) bool
    flipped: np.ndarray  # (V,) bool: the view's detection has left and right swapped (used swapped back)
    previous: int | None  # which of ``previous`` this person continues; None for someone new


def _detections(points: Sequence[np.ndarray], visibility: Sequence[np.ndarray], V: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(points) != V or len(visibility) != V:
        raise ValueError(f"give one entry of points and visibility per camera ({V}), not {len(points)} and {len(visibility)}.")
    out = []
    for p, s in zip(points, visibility):
        p = np.asarray(p, np.float64)
        p = p.reshape((-1,) + p.shape[-2:]) if p.size else p.reshape(0, 0, 2)
        out.append((p, np.asarray(s, np.float64).reshape(p.shape[:2])))
    return out


def _flip_index(flip: Sequence[int] | None, dets) -> np.ndarray | None:
    J = next((p.shape[1] for p, _ in dets if len(p)), None)
    if flip is None or J is None:
        return None
    flip = np.asarray(flip, int)
    if len(flip) != J:
        raise ValueError(f"the left/right swap has {len(flip)} joints but the detections {J}: pass flip=None or "
                         f"your skeleton's flip index.")
    return flip


def _reprojection_cost(X: np.ndarray, uv: np.ndarray, vis: np.ndarray, camera: Camera) -> float:
    """Median pixel distance between a person's 3D joints X (J, 3) seen by ``camera`` and a detection, over
    its person size; inf with fewer than 4 joints to compare."""
    seen = (vis >= MIN_WEIGHT) & np.isfinite(uv).all(-1)
    with np.errstate(invalid="ignore"):
        xc = camera.world_to_camera(X)
        both = seen & np.isfinite(xc).all(-1) & (xc[:, 2] > 0)
    if both.sum() < 4:
        return np.inf
    d = np.linalg.norm(camera.project(xc[both]) - uv[both], axis=-1)
    return float(np.median(d) / max(_person_size(uv, seen), 1.0))


def _epipolar_cost(a: tuple[np.ndarray, np.ndarray, Camera], b: tuple[np.ndarray, np.ndarray, Camera]) -> float:
    """Median symmetric epipolar distance (pixels) between two views' detections, over the person's mean
    size in them; inf with fewer than 6 joints both see."""
    (uva, visa, ca), (uvb, visb, cb) = a, b
    both = (visa >= MIN_WEIGHT) & (visb >= MIN_WEIGHT) & np.isfinite(uva).all(-1) & np.isfinite(uvb).all(-1)
    if both.sum() < 6:
        return np.inf
    Ra, Rb = np.asarray(ca.R), np.asarray(cb.R)
    R = Rb @ Ra.T
    t = Rb @ (np.asarray(ca.T) - np.asarray(cb.T))
    E = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ R
    xa = np.column_stack([ca.rays(uva[both]), np.ones(both.sum())])
    xb = np.column_stack([cb.rays(uvb[both]), np.ones(both.sum())])
    la, lb = xb @ E, xa @ E.T  # epipolar lines in a and in b
    alg = np.einsum("ni,ni->n", xb, lb)
    d = 0.5 * (np.abs(alg) / np.linalg.norm(lb[:, :2], axis=1) * cb.focal
               + np.abs(alg) / np.linalg.norm(la[:, :2], axis=1) * ca.focal)
    size = 0.5 * (_person_size(uva, visa >= MIN_WEIGHT) + _person_size(uvb, visb >= MIN_WEIGHT))
    return float(np.median(d) / max(size, 1.0))


def _view(dets, cameras: Sequence[Camera], v: int, d: int, flip: np.ndarray | None = None):
    uv, vis = dets[v][0][d], dets[v][1][d]
    return (uv, vis, cameras[v]) if flip is None else (uv[flip], vis[flip], cameras[v])


def _epipolar_groups(nodes: list[tuple[int, int]], dets, cameras: Sequence[Camera],
                     flip: np.ndarray | None) -> list[list[tuple[int, int]]]:
    """Detections (view, index) grouped into people, at most one per view: the closest pairs first, two
    groups joined when all their cross pairs are within ``EPIPOLAR_GATE`` (either way round left/right)."""
    n = len(nodes)
    cost = np.full((n, n), np.inf)
    for i, j in combinations(range(n), 2):
        (va, da), (vb, db) = nodes[i], nodes[j]
        if va != vb:
            a = _view(dets, cameras, va, da)
            cost[i, j] = cost[j, i] = min(_epipolar_cost(a, _view(dets, cameras, vb, db)),
                                          np.inf if flip is None else _epipolar_cost(a, _view(dets, cameras, vb, db, flip)))
    group = list(range(n))
    members = {i: [i] for i in range(n)}
    for k in np.argsort(cost, axis=None):
        i, j = divmod(int(k), n)
        if not cost[i, j] < EPIPOLAR_GATE:
            break
        gi, gj = group[i], group[j]
        if gi == gj or {nodes[m][0] for m in members[gi]} & {nodes[m][0] for m in members[gj]}:
            continue
        if (cost[np.ix_(members[gi], members[gj])] < EPIPOLAR_GATE).all():
            for m in members.pop(gj):
                group[m] = gi
                members[gi].append(m)
    return [[nodes[m] for m in ms] for ms in members.values() if len(ms) >= 2]


def _orientation(detections: np.ndarray, dets, cameras: Sequence[Camera], flip: np.ndarray | None) -> np.ndarray:
    """Which views' detections to swap left/right for a newcomer: each view as it agrees best (epipolar)
    with the view that sees the most of them, then whichever labelling most views gave."""
    flipped = np.zeros(len(detections), bool)
    views = np.flatnonzero(detections >= 0)
    if flip is None or len(views) < 2:
        return flipped
    anchor = max(views, key=lambda v: dets[v][1][detections[v]].sum())
    a = _view(dets, cameras, anchor, detections[anchor])
    for v in views:
        if v != anchor:
            d = detections[v]
            flipped[v] = _epipolar_cost(a, _view(dets, cameras, v, d, flip)) < _epipolar_cost(a, _view(dets, cameras, v, d))
    if 2 * flipped.sum() > len(views):
        flipped[views] = ~flipped[views]
    return flipped


def _triangulate_match(detections: np.ndarray, flipped: np.ndarray, dets, cameras: Sequence[Camera],
                       flip: np.ndarray | None) -> Triangulated | None:
    """Triangulate the detections chosen per view (-1: none), dropping views that disagree with the others."""
    V, J = len(cameras), next(p.shape[1] for p, _ in dets if len(p))
    uv = np.full((V, J, 2), np.nan)
    vis = np.zeros((V, J))
    for v, d in enumerate(detections):
        if d >= 0:
            uv[v], vis[v] = _view(dets, cameras, v, d, flip if flipped[v] else None)[:2]
    while (vis.max(1) > 0).sum() >= 2:
        tri = triangulate(uv, vis, cameras)
        if np.isfinite(tri.points).all(-1).sum() < 4:
            return None
        err = reprojection_errors(tri.points, uv, cameras)
        seen = vis >= MIN_WEIGHT
        off = np.array([np.nanmedian(np.where(seen[v], err[v], np.nan)) / max(_person_size(uv[v], seen[v]), 1.0)
                        if seen[v].any() else -np.inf for v in range(V)])
        worst = int(np.argmax(np.nan_to_num(off, nan=np.inf)))
        if not off[worst] > VIEW_GATE:
            return tri
        uv[worst], vis[worst] = np.nan, 0.0
    return None


def match_people(points: Sequence[np.ndarray], visibility: Sequence[np.ndarray], cameras: Sequence[Camera],
                 previous: Sequence[np.ndarray] = (), flip: Sequence[int] | None = MEDIAPIPE.flip_index) -> list[Match]:
    """The people of one frame across its views, triangulated. ``points[v]`` (n_v, J, 2) pixels and
    ``visibility[v]`` (n_v, J) are the detections of camera v, in any order. ``previous`` are the world
    joints (J, 3) mm of people known from earlier frames: each view's detections go first to them
    (Hungarian on the reprojection distance, within ``TRACK_GATE`` of the person's size), and the rest are
    grouped by epipolar agreement. A view that disagrees with the others' triangulation is dropped; a
    person needs two views.

    ``flip`` (the permutation swapping left and right joints; MediaPipe's by default, None for none): a
    detection may have left and right swapped (MediaPipe does, for people turning or seen from behind).
    A known person's views are labelled as their previous joints reproject best, a newcomer's as most views
    label them."""
    V = len(cameras)
    dets = _detections(points, visibility, V)
    flip = _flip_index(flip, dets)
    assigned = np.full((len(previous), V), -1)
    turned = np.zeros((len(previous), V), bool)
    for v, (uv, vis) in enumerate(dets):
        if not len(previous) or not len(uv):
            continue
        cost = np.array([[[_reprojection_cost(np.asarray(X, np.float64), *_view(dets, cameras, v, d, f)[:2], cameras[v])
                           for f in ((None,) if flip is None else (None, flip))] for d in range(len(uv))]
                         for X in previous])
        best = cost.min(-1)
        rows, cols = linear_sum_assignment(np.where(np.isfinite(best), best, 1e6))
        for t, d in zip(rows, cols):
            if best[t, d] < TRACK_GATE:
                assigned[t, v], turned[t, v] = d, cost[t, d].argmin() == 1
    taken = {(v, d) for t in range(len(previous)) for v, d in enumerate(assigned[t]) if d >= 0}
    free = [(v, d) for v in range(V) for d in range(len(dets[v][0])) if (v, d) not in taken]
    candidates: list[tuple[np.ndarray, np.ndarray, int | None]] = [(assigned[t], turned[t], t) for t in range(len(previous))]
    for group in _epipolar_groups(free, dets, cameras, flip):
        chosen = np.full(V, -1)
        for v, d in group:
            chosen[v] = d
        candidates.append((chosen, _orientation(chosen, dets, cameras, flip), None))
    matches = []
    for chosen, flipped, t in candidates:
        tri = _triangulate_match(chosen, flipped, dets, cameras, flip) if (chosen >= 0).sum() >= 2 else None
        if tri is not None:
            kept = tri.views.any(1)
            matches.append(Match(np.where(kept, chosen, -1), tri.points, tri.error, tri.views, flipped & kept, t))
    return matches


def _median_distance(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if len(d) >= 4 else np.inf


class PeopleTracker:
    """People followed through a multi-view recording with ids that last: each frame's :func:`match_people`
    against those seen in the last ``memory`` frames; someone found anew near where a person was lost
    (within ``REIDENTIFY_MM``) takes up their id."""

    def __init__(self, cameras: Sequence[Camera], memory: int = 30, flip: Sequence[int] | None = MEDIAPIPE.flip_index):
        self.cameras, self.memory, self.flip = list(cameras), memory, flip
        self._known: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last world joints, frames since seen)
        self._next = 0

    def __call__(self, points: Sequence[np.ndarray], visibility: Sequence[np.ndarray]) -> dict[int, Match]:
        ids = list(self._known)
        matches = match_people(points, visibility, self.cameras, [self._known[i][0] for i in ids], self.flip)
        found = {ids[m.previous]: m for m in matches if m.previous is not None}
        new = [m for m in matches if m.previous is None]
        lost = [i for i in ids if i not in found]
        if new and lost:
            cost = np.array([[_median_distance(m.points, self._known[i][0]) for i in lost] for m in new])
            for r, c in zip(*linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))):
                if cost[r, c] < REIDENTIFY_MM:
                    found[lost[c]] = new[r]
        for m in new:
            if not any(m is f for f in found.values()):
                found[self._next] = m
                self._next += 1
        for i in list(self._known):
            if i not in found:
                last, age = self._known[i]
                if age + 1 > self.memory:
                    del self._known[i]
                else:
                    self._known[i] = (last, age + 1)
        for i, m in found.items():
            # Joints not triangulated this frame keep their last place (for the next frame's matching).
            self._known[i] = (m.points, 0) if i not in self._known else (
                np.where(np.isfinite(m.points), m.points, self._known[i][0]), 0)
        return dict(sorted(found.items()))


@dataclass
class Reference:
    """The people of a multi-view recording, triangulated frame by frame (P people, F frames, V views)."""
    ids: np.ndarray  # (P,) int
    points: np.ndarray  # (F, P, J, 3) world mm; NaN where not triangulated
    error: np.ndarray  # (F, P, J) pixels
    detections: np.ndarray  # (F, P, V) int: their detection in each view's frame, -1 where none
    flipped: np.ndarray  # (F, P, V) bool: that detection has left and right swapped
    views: np.ndarray  # (F, P, V, J) bool


def track_people(points: Sequence[Sequence[np.ndarray]], visibility: Sequence[Sequence[np.ndarray]],
                 cameras: Sequence[Camera], memory: int = 30,
                 flip: Sequence[int] | None = MEDIAPIPE.flip_index) -> Reference:
    """:class:`PeopleTracker` over a recording: ``points[f][v]`` (n, J, 2) pixels and ``visibility[f][v]``
    (n, J) are frame f's detections in camera v."""
    tracker = PeopleTracker(cameras, memory, flip)
    frames = [tracker(p, s) for p, s in zip(points, visibility)]
    ids = np.array(sorted({i for f in frames for i in f}), dtype=int)
    V = len(cameras)
    J = next((m.points.shape[0] for f in frames for m in f.values()), 0)
    F, P = len(frames), len(ids)
    ref = Reference(ids, np.full((F, P, J, 3), np.nan), np.full((F, P, J), np.nan), np.full((F, P, V), -1),
                    np.zeros((F, P, V), bool), np.zeros((F, P, V, J), bool))
    for f, people in enumerate(frames):
        for i, m in people.items():
            p = int(np.searchsorted(ids, i))
            ref.points[f, p], ref.error[f, p], ref.detections[f, p] = m.points, m.error, m.detections
            ref.flipped[f, p], ref.views[f, p] = m.flipped, m.views
    return ref
