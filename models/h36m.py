"""Human3.6M: 3D ground truth in each camera's frame, ground-truth 2D by projection, and the
Stacked Hourglass (SH) detections mapped to H36M-17.

The data stays outside the repository (research-only licence). Its folder is, in order of
precedence: the ``root`` argument, the ``POSELIFT_DATA`` environment variable, ``../shared/data/h36m``
beside the repository.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calibration import Camera
from .errors import DataError
from .motion import MotionClip

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
FPS = 50.0
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
           "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether")
MISSING_NOTE = ("Five sequences are absent from this copy of Human3.6M: S5 Discussion 2 and 3, "
                "S7 Discussion, S7 SittingDown 1, S9 Discussion 1; S11 Directions has no SH detections "
                "for camera 54138969.")

FILES = {"poses": "poses_3d.npz", "cameras": "cameras.json", "detections": "detections_sh.npz"}

# SH16 order -> H36M-17. Joints with a one-to-one counterpart are copied; H36M's spine, neck/nose
# and head top are affine combinations of SH's pelvis, spine, thorax and head, whose own definitions
# differ from the mocap markers. The weights are least-squares fits to the projected ground truth of
# the training subjects (``fit_sh_trunk_weights`` recomputes them; a test checks they still agree).
SH_TO_H36M_DIRECT = {0: 6, 1: 2, 2: 1, 3: 0, 4: 3, 5: 4, 6: 5, 8: 8,
                     11: 13, 12: 14, 13: 15, 14: 12, 15: 11, 16: 10}
SH_TRUNK = (6, 7, 8, 9)  # SH pelvis, spine, thorax, head
SH_TRUNK_TARGETS = (7, 9, 10)  # H36M spine, neck/nose, head top
SH_TRUNK_WEIGHTS = np.array([
    [0.3854, 0.7093, -0.0600, -0.0347],
    [-0.0587, -0.0780, 1.0072, 0.1294],
    [-0.2783, 0.1616, 0.9829, 0.1338],
])


@dataclass
class Sequence:
    subject: str
    take: str  # e.g. "Walking 1"
    camera_id: str
    camera: Camera
    pose3d: np.ndarray  # (N, 17, 3) camera frame, mm
    pose2d: np.ndarray  # (N, 17, 2) ground-truth projection, px
    sh16: np.ndarray | None  # (N, 16, 2) raw SH detections, px; None where the camera has none
    fps: float = FPS

    @property
    def detections(self) -> np.ndarray | None:
        """SH detections mapped to H36M-17, px."""
        return None if self.sh16 is None else sh_to_h36m(self.sh16)

    @property
    def action(self) -> str:
        return action_of(self.take)

    @property
    def name(self) -> str:
        return f"{self.subject}/{self.take}/{self.camera_id}"

    def __len__(self) -> int:
        return len(self.pose3d)


def action_of(take: str) -> str:
    return re.sub(r"\s+\d+$", "", take)


def data_root(root: str | os.PathLike | None = None) -> Path:
    path = Path(root or os.environ.get("POSELIFT_DATA") or Path(__file__).resolve().parents[2] / "shared/data/h36m")
    if not path.is_dir():
        raise DataError(f"Human3.6M data folder {path} does not exist: point POSELIFT_DATA (or --data) at the "
                        f"folder holding {', '.join(FILES.values())}.")
    for f in FILES.values():
        if not (path / f).is_file():
            raise DataError(f"Human3.6M file {path / f} is missing: the data folder must hold "
                            f"{', '.join(FILES.values())}.")
    return path


def _check_shape(arr: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise DataError(f"{what} has shape {arr.shape}, expected {want}.")
    return arr


def load_cameras(root: Path) -> dict[str, dict[str, Camera]]:
    path = root / FILES["cameras"]
    try:
        raw = json.loads(path.read_text())
        return {s: {cid: Camera.from_dict(c) for cid, c in cams.items()} for s, cams in raw.items()}
    except (ValueError, AttributeError, TypeError) as e:
        raise DataError(f"camera file {path} is not a subject -> camera -> {{R, T, f, c, k, p}} JSON: {e}") from e


def sh_to_h36m(sh: np.ndarray, weights: np.ndarray = SH_TRUNK_WEIGHTS) -> np.ndarray:
    """Stacked Hourglass 16-joint detections (..., 16, 2) -> H36M-17 (..., 17, 2)."""
    out = np.zeros(sh.shape[:-2] + (17, sh.shape[-1]), dtype=sh.dtype)
    for h, s in SH_TO_H36M_DIRECT.items():
        out[..., h, :] = sh[..., s, :]
    trunk = sh[..., SH_TRUNK, :]
    for row, h in enumerate(SH_TRUNK_TARGETS):
        out[..., h, :] = np.einsum("k,...kd->...d", weights[row], trunk)
    return out


def fit_sh_trunk_weights(sequences: list[Sequence]) -> np.ndarray:
    """Least-squares affine weights (rows sum to 1) mapping SH trunk joints onto H36M spine, neck, head."""
    sh = np.concatenate([s.sh16 for s in sequences if s.sh16 is not None])
    gt = np.concatenate([s.pose2d for s in sequences if s.sh16 is not None])
    trunk = sh[:, SH_TRUNK]  # (N, 4, 2)
    rows = []
    for h in SH_TRUNK_TARGETS:
        # Sum-to-one constraint: express relative to the thorax (SH index 2 within the trunk).
        base = trunk[:, 2]
        a = (trunk[:, [0, 1, 3]] - base[:, None]).transpose(0, 2, 1).reshape(-1, 3)
        b = (gt[:, h] - base).reshape(-1)
        w, *_ = np.linalg.lstsq(a, b, rcond=None)
        rows.append([w[0], w[1], 1 - w.sum(), w[2]])
    return np.array(rows)


def load_sequences(subjects: tuple[str, ...] | list[str], root: str | os.PathLike | None = None) -> list[Sequence]:
    """Every (take, camera) of ``subjects`` as a :class:`Sequence`, sorted by name."""
    base = data_root(root)
    cameras = load_cameras(base)
    poses = np.load(base / FILES["poses"])
    dets = np.load(base / FILES["detections"])
    det_keys = set(dets.files)
    out = []
    for key in sorted(poses.files):
        subject, take = key.split("/", 1)
        if subject not in subjects:
            continue
        if subject not in cameras:
            raise DataError(f"camera file {base / FILES['cameras']} has no cameras for {subject}.")
        world = _check_shape(poses[key], (None, 17, 3), f"3D poses {key!r} in {base / FILES['poses']}")
        for cid, cam in sorted(cameras[subject].items()):
            x_cam = cam.world_to_camera(world.astype(np.float64))
            pose2d = cam.project(x_cam).astype(np.float32)
            sh16 = None
            if f"{key}/{cid}" in det_keys:
                sh16 = _check_shape(dets[f"{key}/{cid}"], (len(world), 16, 2),
                                    f"SH detections {key}/{cid!r} in {base / FILES['detections']}")
            out.append(Sequence(subject, take, cid, cam, x_cam.astype(np.float32), pose2d, sh16))
    missing = set(subjects) - {s.subject for s in out}
    if missing:
        raise DataError(f"{base / FILES['poses']} holds no sequences for {sorted(missing)}: "
                        f"expected subjects among {TRAIN_SUBJECTS + TEST_SUBJECTS}.")
    return out


def load_world_clips(subjects: tuple[str, ...] | list[str], root: str | os.PathLike | None = None) -> list[MotionClip]:
    """Every take of ``subjects`` in world coordinates (mm, Z up), for virtual cameras to film."""
    path = data_root(root) / FILES["poses"]
    poses = np.load(path)
    clips = [MotionClip(key, action_of(key.split("/", 1)[1]),
                        _check_shape(poses[key], (None, 17, 3), f"3D poses {key!r} in {path}").astype(np.float32), FPS)
             for key in sorted(poses.files) if key.split("/", 1)[0] in subjects]
    if not clips:
        raise DataError(f"{path} holds no sequences for {sorted(subjects)}.")
    return clips
