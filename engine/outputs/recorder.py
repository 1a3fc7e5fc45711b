"""Crash-safe recording: every Result is appended to an on-disk spool as it arrives.

A spool is a folder holding ``header.json`` (fps, camera, model, start time; when the take stops, the
floor's last refit) and ``frames.f32``, a flat file of fixed-size float32 records, flushed to disk at
least once a second. Memory stays bounded however long the recording, a crash or a kill loses at
most the last second, and an unfinished spool found on the next start can be finalised into a
:class:`Clip` like any other.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...calibration.floor import Ground
from ...models.skeletons import H36M, MEDIAPIPE
from .clip import Clip, last_floor_factors

J, M = H36M.num_joints, MEDIAPIPE.num_joints
# Record layout: timestamp, person flag, pose3d, keypoints, confidence, uncertainty, MediaPipe 3D,
# the refiner's resampled joints (1 or 0), then the world grounding: the root in the camera frame (mm),
# the scale, the planted feet (1 or 0), the floor as then estimated (up, camera height mm), and the
# floor's share of the scale and its key for the person's stretch in view (to re-place the take on the
# last floor, as a clip is), NaN where unknown. Recordings from before the world, the refined joints or
# the floor's share were added lack them.
FIELDS = (("timestamp", (1,)), ("person", (1,)), ("pose3d", (J, 3)), ("keypoints", (J, 2)),
          ("confidence", (J,)), ("uncertainty", (J,)), ("mediapipe_world", (M, 3)), ("refined", (J,)),
          ("trajectory", (3,)), ("scale", (1,)), ("contacts", (2,)), ("ground", (4,)), ("onto", (1,)),
          ("track", (1,)))


def _size(fields) -> int:
    return sum(int(np.prod(shape)) for _, shape in fields)


RECORD = _size(FIELDS)
_LAYOUTS = {_size(f): f for f in (FIELDS, FIELDS[:-2], FIELDS[:-6], FIELDS[:-7])}
_NO_WORLD = np.full(_size(FIELDS[-6:]), np.nan)  # the world fields, unknown


def default_spool_root() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "poselift" / "recordings"


@dataclass
class Unfinished:
    path: Path
    frames: int
    started: float  # seconds since the epoch

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))
        return f"{self.frames} frames recorded {when}"


class Recorder:
    """Thread-safe: the inference thread appends while the GUI starts and stops."""

    def __init__(self, root: str | Path | None = None, flush_seconds: float = 1.0):
        self._lock = threading.Lock()
        self.root = Path(root) if root else default_spool_root()
        self.flush_seconds = flush_seconds
        self.path: Path | None = None
        self._header: dict = {}
        self._file = None
        self._last_flush = 0.0
        self.frames = 0
        self._scale = np.ones(2)
        self.first_timestamp: float | None = None
        self.last_timestamp: float | None = None
        self._floor_scales: Mapping[int, float] = {}  # the floor's last refit: each stretch's scale onto it

    @property
    def recording(self) -> bool:
        return self._file is not None

    @property
    def duration(self) -> float:
        if self.first_timestamp is None or self.last_timestamp is None:
            return 0.0
        return self.last_timestamp - self.first_timestamp

    def start(self, fps: float, meta: dict | None = None, pixel_scale: tuple[float, float] = (1.0, 1.0)) -> Path:
        """``pixel_scale``: from the frames the pipeline sees to the source's own pixels (x, y), so that
        the recording's 2D is in source pixels like a processed clip's."""
        with self._lock:
            self._scale = np.asarray(pixel_scale, np.float64)
            return self._start(fps, meta)

    def _start(self, fps: float, meta: dict | None) -> Path:
        if self.recording:
            raise RuntimeError("already recording")
        self.root.mkdir(parents=True, exist_ok=True)
        started = time.time()
        self.path = self.root / time.strftime("rec-%Y%m%d-%H%M%S", time.localtime(started))
        suffix = 0
        while self.path.exists():
            suffix += 1
            self.path = self.path.with_name(f"{self.path.name.split('.')[0]}.{suffix}")
        self.path.mkdir()
        self._header = {"fps": fps, "started": started, "record_floats": RECORD, "meta": meta or {}}
        (self.path / "header.json").write_text(json.dumps(self._header))
        self._file = open(self.path / "frames.f32", "ab")
        self.frames, self.first_timestamp, self.last_timestamp = 0, None, None
        self._floor_scales = {}
        self._last_flush = time.monotonic()
        return self.path

    def append(self, result) -> None:
        """Append one Result; a no-op when not recording."""
        with self._lock:
            if self.recording:
                self._append(result)

    def _append(self, result) -> None:
        world = result.mediapipe.world if result.person else np.full((M, 3), np.nan)
        row = np.concatenate([[result.timestamp, float(result.person)], np.ravel(result.pose3d),
                              np.ravel(result.keypoints * self._scale), result.confidence, result.uncertainty,
                              np.ravel(world), result.refined, _world_record(result.world)])
        self._file.write(row.astype(np.float32).tobytes())
        if result.world is not None and result.world.floor_scales:
            self._floor_scales = result.world.floor_scales
        self.frames += 1
        if self.first_timestamp is None:
            self.first_timestamp = result.timestamp
        self.last_timestamp = result.timestamp
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self._flush()

    def _flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_flush = time.monotonic()

    def stop(self) -> Path:
        """Close the spool (still on disk, ready to finalise); returns its folder."""
        with self._lock:
            if not self.recording:
                raise RuntimeError("not recording")
            self._flush()
            self._file.close()
            self._file = None
            if self._floor_scales:  # a spool left by a crash lacks them: each stretch's last scale serves
                self._header["floor_scales"] = {str(k): v for k, v in self._floor_scales.items()}
                (self.path / "header.json").write_text(json.dumps(self._header))
            return self.path


def _world_record(world) -> np.ndarray:
    if world is None:
        return _NO_WORLD
    g = world.ground
    floor = [*g.up, g.camera_height_mm] if g is not None else [np.nan] * 4
    return np.concatenate([world.root_mm, [world.scale], world.contacts, floor, [world.onto, world.track]])


def read_spool(path: str | Path) -> Clip:
    """The clip held by a spool folder; a torn last record (from a crash) is ignored."""
    path = Path(path)
    header = json.loads((path / "header.json").read_text())
    size = header.get("record_floats")
    if size not in _LAYOUTS:
        raise ValueError(f"recording {path} has records of {size} values, "
                         f"this poselift reads {sorted(_LAYOUTS)}: finalise it with the version that recorded it.")
    raw = np.fromfile(path / "frames.f32", dtype=np.float32)
    raw = raw[: len(raw) // size * size].reshape(-1, size)
    parts, i = {}, 0
    for name, shape in _LAYOUTS[size]:
        n = int(np.prod(shape))
        parts[name] = raw[:, i: i + n].reshape(-1, *shape)
        i += n
    meta = {"skeleton": H36M.name, "units": "mm", **header.get("meta", {})}
    world = {}
    if "scale" in parts and np.isfinite(parts["scale"]).any():
        floors = parts["ground"][np.isfinite(parts["ground"]).all(1)].astype(np.float64)
        ground = Ground(tuple(floors[-1, :3]), float(floors[-1, 3])).to_dict() if len(floors) else None
        meta["world"] = {**meta.get("world", {}), "ground": ground}
        world = {"trajectory": parts["trajectory"], "scale": parts["scale"][:, 0], "contacts": parts["contacts"] > 0.5}
        if "onto" in parts:
            final = {int(k): v for k, v in header.get("floor_scales", {}).items()}
            onto = last_floor_factors(parts["onto"][:, 0].astype(np.float64), parts["track"][:, 0], final)
            world["trajectory"] = (world["trajectory"] * onto[:, None]).astype(np.float32)
            world["scale"] = (world["scale"] * onto).astype(np.float32)
    return Clip(pose3d=parts["pose3d"], keypoints=parts["keypoints"], confidence=parts["confidence"],
                uncertainty=parts["uncertainty"], timestamps=parts["timestamp"][:, 0].astype(np.float64),
                fps=float(header["fps"]), mediapipe_world=parts["mediapipe_world"], meta=meta,
                refined=parts["refined"] > 0.5 if "refined" in parts else None, **world)


def finalize(spool: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write the spool's clip to ``out`` (.npz, atomically) and remove the spool."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists: choose another name or allow overwriting.")
    clip = read_spool(spool)
    clip.save(out)
    shutil.rmtree(spool)
    return out


def discard(spool: str | Path) -> None:
    shutil.rmtree(spool, ignore_errors=True)


def find_unfinished(root: str | Path | None = None) -> list[Unfinished]:
    """Spools left behind (by a crash, a kill, or closing the app while recording)."""
    root = Path(root) if root else default_spool_root()
    found = []
    for path in sorted(root.glob("rec-*")):
        header, data = path / "header.json", path / "frames.f32"
        if header.is_file() and data.is_file():
            try:
                head = json.loads(header.read_text())
                started, size = float(head["started"]), int(head.get("record_floats", RECORD))
            except (ValueError, KeyError, TypeError):
                continue
            found.append(Unfinished(path, data.stat().st_size // (4 * max(size, 1)), started))
    return found
