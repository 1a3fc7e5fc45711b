"""Calibrated multi-camera rigs: Qualisys and Pose2Sim/OpenCV calibrations read, videos matched to their
cameras, and the floor each camera sees."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..videos import probe_video
from .camera import CalibrationError, Camera, OpenCVCamera
from .floor import Ground

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v")
QUALISYS_SUBPIXELS = 64  # Qualisys writes intrinsics in 1/64 pixel
FLIP_YZ = np.diag([1.0, -1.0, -1.0])  # Qualisys camera axes (y up, looking down -z) -> OpenCV's


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
    fitted = tuple(fit_to_frames(cameras[v.stem], *probe_video(v).size, name=f"the camera of {v.name}") for v in videos)
    return Rig(tuple(v.stem for v in videos), tuple(videos), fitted)


def true_ground(camera: Camera, up: Sequence[float] = (0.0, 0.0, 1.0), floor_mm: float = 0.0) -> Ground:
    """The floor as the camera sees it, from a calibration whose world has ``up`` as its up and the floor
    at height ``floor_mm`` along it (the Qualisys lab: Z up, floor Z = 0): the world's up in camera axes
    and the camera's height above the floor."""
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    up_cam = np.asarray(camera.R) @ up
    return Ground(tuple(float(v) for v in up_cam), float(np.asarray(camera.T) @ up - floor_mm))

