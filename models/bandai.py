"""The Bandai-Namco-Research-Motiondataset (3.9 h of 23-joint mocap at 30 Hz, CC BY-NC 4.0) as H36M-17
world clips: dataset-2 to train on, dataset-1 held out as a cross-dataset validation set.

Its one retargeted body is smaller and much narrower than the Human3.6M subjects (hips 129 vs 267 mm
apart) and has no face marker, so each clip is mapped to H36M-17, its nose placed as H36M's sits, and
its bones set to H36M's mean lengths (``models.motion``); training varies them again from there.
The data stays outside the repository; its folder is the ``root`` argument, ``$POSELIFT_BANDAI``, or
``../shared/data/bandai`` beside the repository.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError
from .motion import MotionClip, place_nose, to_h36m_proportions
from .skeletons import H36M

FPS = 30.0
FILES = {1: "bandai1.npz", 2: "bandai2.npz"}
# H36M-17 joint -> Bandai joint(s) averaged (the dataset README's suggested mapping); the nose is placed.
MAPPING = {"pelvis": ("Hips",), "right_hip": ("UpperLeg_R",), "right_knee": ("LowerLeg_R",),
           "right_ankle": ("Foot_R",), "left_hip": ("UpperLeg_L",), "left_knee": ("LowerLeg_L",),
           "left_ankle": ("Foot_L",), "spine": ("Spine", "Chest"), "thorax": ("Neck",), "neck_nose": ("Head",),
           "head_top": ("Head_End",), "left_shoulder": ("UpperArm_L",), "left_elbow": ("LowerArm_L",),
           "left_wrist": ("Hand_L",), "right_shoulder": ("UpperArm_R",), "right_elbow": ("LowerArm_R",),
           "right_wrist": ("Hand_R",)}
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # (x, y, z) -> (x, -z, y)


def bandai_root(root: str | os.PathLike | None = None) -> Path:
    path = Path(root or os.environ.get("POSELIFT_BANDAI") or Path(__file__).resolve().parents[2] / "shared/data/bandai")
    if not path.is_dir():
        raise DataError(f"Bandai mocap folder {path} does not exist: point POSELIFT_BANDAI (--bandai-data, or "
                        f"bandai_data: in a training config) at the folder holding {FILES[1]} and {FILES[2]}.")
    return path


def load_bandai(dataset: int, root: str | os.PathLike | None = None) -> list[MotionClip]:
    """Every clip of Bandai dataset-``dataset`` (1 or 2) as H36M-17 world clips (mm, Z up, H36M
    proportions), sorted by name."""
    path = bandai_root(root) / FILES[dataset]
    if not path.is_file():
        raise DataError(f"Bandai file {path} is missing: the Bandai folder must hold {FILES[dataset]}.")
    try:
        z = np.load(path)
        names = [str(n) for n in z["_joints"]]
        meta = json.loads(str(z["_meta"]))
        index = [[names.index(j) for j in MAPPING[h]] for h in H36M.joints]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"Bandai file {path} is not the expected npz (joint names, _meta, int16 clips): {e}.") from None
    with z:
        clips = []
        for key in sorted(meta):
            try:
                raw = z[key].astype(np.float32) * 0.5 + z[key + "__origin_mm"]
            except KeyError:
                raise DataError(f"Bandai file {path} lists clip {key} in _meta but does not hold it.") from None
            if raw.ndim != 3 or raw.shape[1:] != (len(names), 3):
                raise DataError(f"Bandai clip {key} in {path} has shape {raw.shape}, expected (N, {len(names)}, 3).")
            world = np.stack([raw[:, i].mean(1) for i in index], axis=1) @ Y_UP_TO_Z_UP.T
            world[:, H36M.index("neck_nose")] = place_nose(world)
            clips.append(MotionClip(key, meta[key]["content"], to_h36m_proportions(world), FPS))
    return clips
