"""The canonical 3D clip: arrays per frame plus metadata, stored as an ``.npz`` readable without pickle."""
from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...models.skeletons import (
    H36M,
    MEDIAPIPE,
    Skeleton,
    convert,
    convert_confidence,
    convert_largest,
)
from ..live.world import world_pose

CLIP_VERSION = 1


class ClipError(UserError, ValueError):
    """A clip file is missing, damaged, or from a newer poselift."""


@dataclass
class Clip:
    pose3d: np.ndarray  # (N, 17, 3) mm, root-relative camera axes; NaN rows where no person was seen
    keypoints: np.ndarray  # (N, 17, 2) pixels
    confidence: np.ndarray  # (N, 17)
    uncertainty: np.ndarray  # (N, 17) mm
    timestamps: np.ndarray  # (N,) seconds
    fps: float
    mediapipe_world: np.ndarray | None = None  # (N, 33, 3) mm, MediaPipe's own 3D
    meta: dict = field(default_factory=dict)  # skeleton, units, camera, model, source, ...
    refined: np.ndarray | None = None  # (N, 17) bool, the joints the refiner resampled
    # World grounding (absent in clips made before it, or with grounding off); meta["world"] holds
    # the subject height used and the camera's floor as last estimated (calibration.floor.Ground.to_dict):
    trajectory: np.ndarray | None = None  # (N, 3) mm, the root in the camera frame, metric
    scale: np.ndarray | None = None  # (N,) factor from pose3d to the subject's height
    contacts: np.ndarray | None = None  # (N, 2) bool, left / right foot planted
    # With MediaPipe's 3D fused in (meta["model"]["fusion"]), pose3d is the fused pose and this the lift alone:
    lifted: np.ndarray | None = None  # (N, 17, 3) mm, as pose3d

    WORLD_ARRAYS = ("trajectory", "scale", "contacts")

    def __len__(self) -> int:
        return len(self.pose3d)

    def between(self, start_s: float | None = None, end_s: float | None = None) -> "Clip":
        """The frames whose timestamps lie from ``start_s`` to ``end_s`` (either open when None)."""
        t = self.timestamps
        keep = (t >= (-np.inf if start_s is None else start_s)) & (t <= (np.inf if end_s is None else end_s))
        cut = {k: None if getattr(self, k) is None else getattr(self, k)[keep]
               for k in ("pose3d", "keypoints", "confidence", "uncertainty", "timestamps", "mediapipe_world",
                         "refined", "lifted", *self.WORLD_ARRAYS)}
        return Clip(fps=self.fps, meta=self.meta, **cut)

    @classmethod
    def from_results(cls, results: list, fps: float, meta: dict | None = None,
                     pixel_scale: tuple[float, float] = (1.0, 1.0)) -> "Clip":
        """``pixel_scale``: from the frames the pipeline saw to the source's own pixels (x, y)."""
        world = {}
        if any(r.world is not None for r in results):
            nan = np.full(3, np.nan)
            world = {"trajectory": np.array([r.world.root_mm if r.world else nan for r in results], np.float64),
                     "scale": np.array([r.world.scale if r.world else np.nan for r in results], np.float64),
                     "contacts": np.array([r.world.contacts if r.world else (False, False) for r in results], bool)}
            onto = on_last_floor([r.world for r in results])
            world["trajectory"] = (world["trajectory"] * onto[:, None]).astype(np.float32)
            world["scale"] = (world["scale"] * onto).astype(np.float32)
            ground = next((r.world.ground for r in reversed(results) if r.world and r.world.ground), None)
            meta = {**(meta or {}), "world": {**(meta or {}).get("world", {}),
                                              "ground": ground.to_dict() if ground else None}}
        lifted = None
        if any(r.lifted is not None for r in results):
            lifted = np.array([r.lifted if r.lifted is not None else r.pose3d for r in results],
                              np.float32).reshape(-1, H36M.num_joints, 3)
        return cls(
            pose3d=np.array([r.pose3d for r in results], np.float32).reshape(-1, H36M.num_joints, 3),
            keypoints=(np.array([r.keypoints for r in results], np.float32).reshape(-1, H36M.num_joints, 2)
                       * np.asarray(pixel_scale, np.float32)),
            confidence=np.array([r.confidence for r in results], np.float32).reshape(-1, H36M.num_joints),
            uncertainty=np.array([r.uncertainty for r in results], np.float32).reshape(-1, H36M.num_joints),
            timestamps=np.array([r.timestamp for r in results], np.float64),
            fps=float(fps),
            mediapipe_world=np.array([r.mediapipe.world if r.person else np.full((MEDIAPIPE.num_joints, 3), np.nan)
                                      for r in results], np.float32).reshape(-1, MEDIAPIPE.num_joints, 3),
            meta={"skeleton": H36M.name, "units": "mm", **(meta or {})},
            refined=np.array([r.refined for r in results], bool).reshape(-1, H36M.num_joints),
            lifted=lifted,
            **world,
        )

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename)."""
        path = Path(path)
        meta = {"version": CLIP_VERSION, "fps": self.fps, "skeleton": H36M.name, "units": "mm", **self.meta}
        arrays = {"pose3d": self.pose3d, "keypoints": self.keypoints, "confidence": self.confidence,
                  "uncertainty": self.uncertainty, "timestamps": self.timestamps,
                  "meta": np.array(json.dumps(meta))}
        if self.mediapipe_world is not None:
            arrays["mediapipe_world"] = self.mediapipe_world
        if self.refined is not None:
            arrays["refined"] = self.refined
        if self.lifted is not None:
            arrays["lifted"] = self.lifted
        arrays.update({k: getattr(self, k) for k in self.WORLD_ARRAYS if getattr(self, k) is not None})
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Clip":
        path = Path(path)
        if not path.is_file():
            raise ClipError(f"clip {path} does not exist: pass an .npz written by poselift.")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if int(meta.get("version", 0)) > CLIP_VERSION:
                    raise ClipError(f"clip {path} was written by a newer poselift (format {meta['version']}, "
                                    f"this one reads up to {CLIP_VERSION}): upgrade poselift.")
                return cls(data["pose3d"], data["keypoints"], data["confidence"], data["uncertainty"],
                           data["timestamps"], float(meta["fps"]),
                           data["mediapipe_world"] if "mediapipe_world" in data.files else None,
                           {k: v for k, v in meta.items() if k not in ("version", "fps")},
                           data["refined"] if "refined" in data.files else None,
                           **{k: data[k] for k in (*cls.WORLD_ARRAYS, "lifted") if k in data.files})
        except ClipError:
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise ClipError(f"clip {path} is damaged or not a poselift clip ({e.__class__.__name__}: {e}).") from e


def in_format(clip: Clip, skeleton: Skeleton, world: bool = False
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pose3d (root-relative camera axes, or with ``world`` the gravity-aligned world's Y up), keypoints,
    confidence, uncertainty of ``clip`` in ``skeleton``'s joints, mm."""
    src = clip.meta.get("skeleton", H36M.name)
    pose = world_pose(clip) if world else clip.pose3d.astype(np.float64)
    return (convert(pose, src, skeleton.name),
            convert(clip.keypoints.astype(np.float64), src, skeleton.name),
            convert_confidence(clip.confidence, src, skeleton.name),
            convert_largest(clip.uncertainty, src, skeleton.name))


def on_last_floor(frames: list) -> np.ndarray:
    """Per frame, the factor (N,) that re-places a person's body and distance from the floor's scale
    of that moment onto the floor's last refit: a clip is placed on the last floor estimated, and so
    are everyone's feet, those of a stretch in view that ended before it too. ``frames`` are
    WorldFrames or None."""
    onto = np.array([w.onto if w is not None else np.nan for w in frames], np.float64)
    track = np.array([w.track if w is not None else -1 for w in frames])
    final = next((w.floor_scales for w in reversed(frames) if w is not None and w.floor_scales), {})
    return last_floor_factors(onto, track, final)


def last_floor_factors(onto: np.ndarray, track: np.ndarray, final: Mapping[int, float]) -> np.ndarray:
    """:func:`on_last_floor` from each frame's scale onto the floor (``onto``, NaN without a person) and
    stretch in view (``track``): the stretch's scale in ``final`` (the floor's last refit), else its last
    frame's, over the frame's own."""
    last: dict[int, float] = {}
    for o, t in zip(onto, track):
        if o > 0:
            last[int(t)] = float(o)
    last.update({k: v for k, v in final.items() if k in last})
    return np.array([last[int(t)] / o if o > 0 else 1.0 for o, t in zip(onto, track)])
