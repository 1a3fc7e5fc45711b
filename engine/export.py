"""Clip export: npz, CSV, JSON, BVH, TRC (OpenSim), C3D and the side-by-side MP4, each in the
skeleton format the user picks. Frames without a person stay gaps (empty, null, NaN or an invalid
marker), except in BVH, which cannot express one. Files are written atomically and never overwrite
without ``overwrite=True``."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from ..models.skeletons import H36M, Skeleton, convert, convert_confidence, convert_largest, get_skeleton
from .bvh import camera_to_y_up, write_bvh
from .clip import Clip

FORMATS = ("npz", "csv", "json", "bvh", "trc", "c3d", "mp4")


class ExportError(ValueError):
    """The clip cannot be exported as asked; the message names the problem and the fix."""


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists: choose another name or pass --force to overwrite it.")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"cannot write {out}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise ExportError(f"cannot write {out}: no permission to write in {folder}.")


def _atomic(out: Path, write) -> Path:
    tmp = out.with_name(f".{out.name}.part{out.suffix}")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def in_format(clip: Clip, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pose3d, keypoints, confidence, uncertainty of ``clip`` in ``skeleton``'s joints."""
    src = clip.meta.get("skeleton", H36M.name)
    return (convert(clip.pose3d.astype(np.float64), src, skeleton.name),
            convert(clip.keypoints.astype(np.float64), src, skeleton.name),
            convert_confidence(clip.confidence, src, skeleton.name),
            convert_largest(clip.uncertainty, src, skeleton.name))


def export_clip(clip: Clip, fmt: str, out: str | Path, skeleton: str = H36M.name, overwrite: bool = False,
                video: str | Path | None = None) -> tuple[Path, str | None]:
    """Write ``clip`` as ``fmt`` to ``out``. Returns the path and a note for the user (or None)."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    if len(clip) == 0:
        raise ExportError("the clip is empty: record or process some frames before exporting.")
    sk = get_skeleton(skeleton)
    out = Path(out)
    _check_target(out, overwrite)
    if fmt == "npz":  # Clip.save is atomic itself
        return write_npz(out, clip, sk), None
    if video is not None and not Path(video).is_file():
        raise ExportError(f"video {video} does not exist: check the path given with --video.")
    notes: list[str] = []
    if fmt == "mp4":
        from .render import render_clip_video
        _atomic(out, lambda p: notes.append(render_clip_video(p, clip, sk, video)))
    else:
        _atomic(out, lambda p: notes.append(WRITERS[fmt](p, clip, sk)))
    return out, notes[0]


def write_npz(path: Path, clip: Clip, sk: Skeleton) -> Path:
    if sk is not H36M:
        pose, kp, conf, sigma = in_format(clip, sk)
        src = clip.meta.get("skeleton", H36M.name)
        # a mapped joint counts as resampled when any of its sources was
        refined = None if clip.refined is None else convert_largest(clip.refined.astype(np.float32), src, sk.name) > 0
        clip = Clip(pose.astype(np.float32), kp.astype(np.float32), conf, sigma, clip.timestamps, clip.fps,
                    clip.mediapipe_world, {**clip.meta, "skeleton": sk.name}, refined)
    return clip.save(path)


def write_bvh_clip(path: Path, clip: Clip, sk: Skeleton) -> str | None:
    filled = write_bvh(path, in_format(clip, sk)[0], clip.fps, sk)
    if not filled:
        return None
    return (f"BVH cannot hold a missing frame: {filled} frame(s) without a person repeat the last "
            f"pose seen (the npz, CSV, JSON, TRC and C3D exports keep them as gaps).")


def write_csv(path: Path, clip: Clip, sk: Skeleton) -> None:
    """One row per frame and joint; units in the column names; gaps as empty cells."""
    pose, kp, conf, sigma = in_format(clip, sk)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "time_s", "joint", "x_mm", "y_mm", "z_mm", "confidence", "uncertainty_mm",
                    "u_px", "v_px"])
        for f in range(len(clip)):
            seen = np.isfinite(pose[f]).all()
            for j, name in enumerate(sk.joints):
                xyz = [f"{v:.2f}" for v in pose[f, j]] if seen else ["", "", ""]
                extra = [f"{conf[f, j]:.3f}", f"{sigma[f, j]:.1f}"] if seen else ["", ""]
                uv = [f"{kp[f, j, 0]:.1f}", f"{kp[f, j, 1]:.1f}"] if seen else ["", ""]
                w.writerow([f, f"{clip.timestamps[f]:.4f}", name, *xyz, *extra, *uv])


def write_json(path: Path, clip: Clip, sk: Skeleton) -> None:
    pose, kp, conf, sigma = in_format(clip, sk)
    frames = []
    for f in range(len(clip)):
        seen = bool(np.isfinite(pose[f]).all())
        frames.append({"time_s": round(float(clip.timestamps[f]), 4),
                       "pose3d_mm": np.round(pose[f], 2).tolist() if seen else None,
                       "keypoints_px": np.round(kp[f], 1).tolist() if seen else None,
                       "confidence": np.round(conf[f], 3).tolist() if seen else None,
                       "uncertainty_mm": np.round(sigma[f], 1).tolist() if seen else None})
    doc = {"format": "poselift clip", "fps": clip.fps, "skeleton": sk.name, "joints": list(sk.joints),
           "parents": list(sk.parents), "units": {"pose3d": "mm", "keypoints": "px", "time": "s"},
           "axes": "camera: x right, y down, z forward; root-relative",
           "meta": {k: v for k, v in clip.meta.items() if k not in ("skeleton", "units")}, "frames": frames}
    Path(path).write_text(json.dumps(doc))


def markers_y_up(clip: Clip, sk: Skeleton) -> np.ndarray:
    """Marker positions (T, J, 3) in mm, Y up (OpenSim's and most biomechanics tools' convention)."""
    return camera_to_y_up(in_format(clip, sk)[0])


def write_trc(path: Path, clip: Clip, sk: Skeleton) -> None:
    """OpenSim marker file (tab separated, mm, Y up); frames without a person have empty markers."""
    m = markers_y_up(clip, sk)
    n, j = m.shape[:2]
    rate = f"{clip.fps:.2f}"
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             f"{rate}\t{rate}\t{n}\t{j}\tmm\t{rate}\t1\t{n}",
             "Frame#\tTime\t" + "\t\t\t".join(sk.joints) + "\t\t",
             "\t\t" + "\t".join(f"X{k + 1}\tY{k + 1}\tZ{k + 1}" for k in range(j)), ""]
    for f in range(n):
        cells = [f"{v:.3f}" if np.isfinite(v) else "" for v in m[f].ravel()]
        lines.append(f"{f + 1}\t{clip.timestamps[f] - clip.timestamps[0]:.5f}\t" + "\t".join(cells))
    Path(path).write_text("\n".join(lines) + "\n")


def write_c3d(path: Path, clip: Clip, sk: Skeleton) -> None:
    """C3D points (mm, Y up) through the `c3d` package; frames without a person are invalid points
    (residual -1), the format's own way of marking a gap."""
    import c3d

    m = markers_y_up(clip, sk).astype(np.float32)
    writer = c3d.Writer(point_rate=float(clip.fps), point_units="mm  ")
    writer.set_point_labels([n[:30] for n in sk.joints])
    writer.set_screen_axis("+X", "+Y")
    frames = []
    for f in range(len(m)):
        pts = np.zeros((m.shape[1], 5), np.float32)
        seen = np.isfinite(m[f]).all(axis=1)
        pts[seen, :3] = m[f][seen]
        pts[~seen, 3] = -1.0
        frames.append((pts, np.zeros((0, 0), np.float32)))
    writer.add_frames(frames)
    with open(path, "wb") as fh:
        writer.write(fh)


# Writers of the formats with no note for the user return None.
WRITERS = {"csv": write_csv, "json": write_json, "bvh": write_bvh_clip, "trc": write_trc, "c3d": write_c3d}
