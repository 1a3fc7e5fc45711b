"""Clip export: npz, CSV, JSON, BVH, a rigged humanoid as glTF (and FBX through Blender), TRC, C3D, the side-by-side MP4, the coordinates of Pose2Sim's
OpenSim model as a .mot, and the camera-axes joint angles as CSV, each in the skeleton format the user
picks. A grounded clip exports in the gravity-aligned world (Y up, the floor at 0, the person moving
through it); a root-relative one (made before grounding, or with ``frame="camera"``) as before, the
pelvis fixed, in camera axes turned Y up. Frames without a person stay gaps (empty, null, NaN or an
invalid marker) and the note names them; the OpenSim model's .mot and TRC leave them out (OpenSim's
tools need every value in every row), and BVH, which cannot express one, starts and ends where the
person is seen (so do glTF and FBX, which also take several people's clips into one file). Files are written atomically and never overwrite without ``overwrite=True``."""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...calibration.floor import Ground, camera_to_y_up
from ...errors import UserError
from ...models import opensim as osm
from ...models.angles import ANGLE_NAMES, joint_angles
from ...models.skeletons import H36M, Skeleton, convert_largest, get_skeleton
from ..live.world import camera_position, has_world
from .bvh import REST_POSES, animation_frames, on_the_floor, write_bvh
from .fbx import write_fbx
from .gltf import Animated, write_glb
from .clip import Clip, in_format
from .render import render_clip_video

FORMATS = ("npz", "csv", "json", "bvh", "glb", "fbx", "trc", "c3d", "mp4", "mot", "angles")
RIGGED = ("glb", "fbx")  # the formats that hold several people


class ExportError(UserError, ValueError):
    """The clip cannot be exported as asked; the message names the problem and the fix."""


FRAMES = ("auto", "world", "camera")
UNITS = {"mm": 1.0, "cm": 0.1, "m": 0.001}
# opensim: the markers of Pose2Sim's OpenSim model (its BlazePose set: LHip, RHeel, ...) in its ground,
# as its scaling and IK setups read them; pose2sim: the skeleton's joints as Pose2Sim and Sports2D
# spell them (Hip, LHip, Neck, ...); poselift: the skeleton's joints as poselift names them (left_hip)
MARKER_NAMES = ("opensim", "pose2sim", "poselift")
CSV_ROWS = ("joint", "frame")
FILL_GAPS_S = (0.0, 10.0)  # the gap lengths (s) that may be filled
# Marker names as Pose2Sim and Sports2D write them (LHip, RKnee, ...), for OpenSim's marker sets.
OPENSIM_NAMES = {"pelvis": "Hip", "thorax": "Neck", "neck_nose": "Nose", "head_top": "Head", "neck": "Neck",
                 "head": "Head", "spine": "Spine", "nose": "Nose"}


@dataclass(frozen=True)
class ExportOptions:
    frame: str = "auto"  # world (grounded clips), camera (root-relative, as before), auto: world when it can
    units: str | None = None  # mm, cm or m; None: the format's default (BVH cm, TRC m, the others mm)
    rest: str = "mean"  # BVH rest pose: the clip's mean pose, or a T-pose (for retargeting)
    marker_names: str = "opensim"  # TRC/C3D markers, one of MARKER_NAMES
    rows: str = "joint"  # CSV: one row per frame and joint, or one row per frame
    # interpolate gaps up to this long (s); None: the OpenSim model's files osm.MAX_GAP_S, the others none
    fill_gaps_s: float | None = None
    start_s: float | None = None  # export only the frames from this time of the video (s) ...
    end_s: float | None = None  # ... to this one

    def __post_init__(self) -> None:
        for name, value, allowed in (("frame", self.frame, FRAMES), ("units", self.units, (None, *UNITS)),
                                     ("rest", self.rest, REST_POSES), ("marker_names", self.marker_names, MARKER_NAMES),
                                     ("rows", self.rows, CSV_ROWS)):
            if value not in allowed:
                raise ExportError(f"{name} {value!r} is not one of {', '.join(a for a in allowed if a)}.")
        low, high = FILL_GAPS_S
        if self.fill_gaps_s is not None and not low <= self.fill_gaps_s <= high:
            raise ExportError(f"--fill-gaps {self.fill_gaps_s:g} is out of range: give {low:g} to {high:g} seconds.")
        if self.start_s is not None and self.end_s is not None and self.start_s >= self.end_s:
            raise ExportError(f"--start {self.start_s:g} is not before --end {self.end_s:g}: give a start "
                              f"earlier than the end.")

    def gap_s(self, default: float = 0.0) -> float:
        return default if self.fill_gaps_s is None else self.fill_gaps_s


def gaps_note(seen: np.ndarray, times: np.ndarray, kept_as: str) -> str | None:
    """The note naming the time ranges of the frames not ``seen``, kept in the file ``kept_as``."""
    ranges = osm.missing_ranges(seen, times)
    return f"frames without the person are kept as {kept_as}: {osm.spans(ranges)}." if ranges else None


def _notes(*notes: str | None) -> str | None:
    """The notes for the user as one text, each sentence beginning with a capital."""
    return " ".join(n[0].upper() + n[1:] for n in notes if n) or None


def opensim_name(joint: str) -> str:
    """``left_hip`` -> ``LHip``, ``pelvis`` -> ``Hip``: the Pose2Sim / Sports2D spelling."""
    if joint in OPENSIM_NAMES:
        return OPENSIM_NAMES[joint]
    side, _, rest = joint.partition("_")
    prefix = {"left": "L", "right": "R"}.get(side)
    words = rest.split("_") if prefix else joint.split("_")
    return (prefix or "") + "".join(w.capitalize() for w in words)


def marker_names(sk: Skeleton, style: str) -> list[str]:
    names = [opensim_name(j) if style == "pose2sim" else j for j in sk.joints]
    # a skeleton with two joints of one Pose2Sim name (MPI's head and head top) keeps its own for the second
    return [n if names.index(n) == i else sk.joints[i] for i, n in enumerate(names)]


def model_motion(clip: Clip, world: bool, options: ExportOptions) -> osm.Motion:
    """The OpenSim model's coordinates and markers (``models.opensim``) of the clip: in the world when
    ``world``, else root-relative in camera axes turned Y up; heels and toes from MediaPipe's own 3D
    when the clip has it."""
    pose = in_format(clip, H36M, world)[0]
    if world:
        to_y_up = Ground.from_dict(clip.meta["world"]["ground"]).rotation
    else:
        pose, to_y_up = camera_to_y_up(pose), camera_to_y_up(np.eye(3))
    feet = None if clip.mediapipe_world is None else osm.foot_points(pose, clip.mediapipe_world, to_y_up)
    m = osm.motion(pose, clip.timestamps, clip.fps, feet, max_gap_s=options.gap_s(osm.MAX_GAP_S))
    if not len(m.frames):
        raise ExportError("no frame of the clip has the whole person, which OpenSim's model needs: export "
                          "another time range, or --marker-names poselift to keep every frame.")
    return m


def _model_markers_note(sk: Skeleton) -> str | None:
    return None if sk is H36M else (f"the OpenSim model's markers do not depend on --skeleton {sk.name}: "
                                    f"it applies with --marker-names pose2sim or poselift.")


def uses_world(clip: Clip, options: ExportOptions) -> bool:
    if options.frame == "camera":
        return False
    if has_world(clip):
        return True
    if options.frame == "world":
        if never_on_a_floor(clip):
            raise ExportError("this person's feet never rest on a floor in the clip, so it has no world to place "
                              "them in: export it with --frame camera.")
        raise ExportError("this clip has no world trajectory (it was made before grounding, or with it off): "
                          "export it with --frame camera, or process the video again to ground it.")
    return False


def never_on_a_floor(clip: Clip) -> bool:
    """Whether ``clip`` was grounded but has no world: its person's feet never rested on a floor in view
    (a false detection, or a person seen only in the air), which processing again does not change."""
    return bool(clip.meta.get("world")) and not has_world(clip)


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists: choose another name or pass --force to overwrite it.")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"cannot write {out}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise ExportError(f"cannot write {out}: no permission to write in {folder}.")


def _atomic(out: Path, write) -> Path:
    """``write`` a file of ``out``'s name in a hidden folder beside it, then move it into place (formats
    such as TRC record their own file name)."""
    folder = Path(tempfile.mkdtemp(prefix=".part-", dir=out.parent if str(out.parent) else "."))
    tmp = folder / out.name
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _in_range(clip: Clip, options: ExportOptions) -> Clip:
    if len(clip) == 0:
        raise ExportError("the clip is empty: record or process some frames before exporting.")
    if not np.isfinite(clip.pose3d).all(axis=(1, 2)).any():
        raise ExportError("the clip has no frame with a pose, so nobody was followed in it: export another "
                          "person's clip, or process the video again following someone it shows (--follow).")
    if options.start_s is None and options.end_s is None:
        return clip
    part = clip.between(options.start_s, options.end_s)
    if len(part) == 0:
        raise ExportError(f"no frame of the clip lies between --start and --end: give times within "
                          f"{clip.timestamps[0]:.2f}-{clip.timestamps[-1]:.2f} s.")
    return part


def export_clip(clip: Clip, fmt: str, out: str | Path, skeleton: str = H36M.name, overwrite: bool = False,
                video: str | Path | None = None, options: ExportOptions = ExportOptions(),
                others: tuple[Clip, ...] = ()) -> tuple[Path, str | None]:
    """Write ``clip`` as ``fmt`` to ``out``, with ``others`` (further people's clips of the same video)
    in the same file for glb and fbx. Returns the path and a note for the user (or None), its sentences
    beginning with a capital."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    if others and fmt not in RIGGED:
        raise ExportError(f"{fmt} holds one person: export each clip on its own, or choose glb or fbx for "
                          f"several people in one file.")
    clip = _in_range(clip, options)
    others = tuple(_in_range(c, options) for c in others)
    sk = get_skeleton(skeleton)
    out = Path(out)
    _check_target(out, overwrite)
    world = uses_world(clip, options)
    if fmt == "npz":  # Clip.save is atomic itself
        return write_npz(out, clip, sk), _notes(gaps_note(np.isfinite(clip.pose3d).all(axis=(1, 2)),
                                                          clip.timestamps, "NaN"))
    if video is not None and not Path(video).is_file():
        raise ExportError(f"video {video} does not exist: check the path given with --video.")
    notes: list[str] = []
    if fmt == "mp4":
        _atomic(out, lambda p: notes.append(render_clip_video(p, clip, sk, video)))
    elif fmt in RIGGED:
        world = world and all(uses_world(c, options) for c in others)
        _atomic(out, lambda p: notes.append(write_rigged(p, (clip, *others), sk, world, options, fbx=fmt == "fbx")))
    else:
        _atomic(out, lambda p: notes.append(WRITERS[fmt](p, clip, sk, world, options)))
    return out, _notes(*notes)


def _scale(options: ExportOptions, default: str) -> tuple[str, float]:
    units = options.units or default
    return units, UNITS[units]


def _axes(world: bool) -> str:
    return ("world: Y up (gravity), floor at Y = 0, X along the camera's right, Z towards the camera; origin "
            "on the floor under the first seen root" if world else
            "camera: x right, y down, z forward; root-relative (the pelvis at 0)")


def write_npz(path: Path, clip: Clip, sk: Skeleton) -> Path:
    if sk is not H36M:
        pose, kp, conf, sigma = in_format(clip, sk)
        src = clip.meta.get("skeleton", H36M.name)
        # a mapped joint counts as resampled when any of its sources was
        refined = None if clip.refined is None else convert_largest(clip.refined.astype(np.float32), src, sk.name) > 0
        clip = Clip(pose.astype(np.float32), kp.astype(np.float32), conf, sigma, clip.timestamps, clip.fps,
                    clip.mediapipe_world, {**clip.meta, "skeleton": sk.name}, refined,
                    clip.trajectory, clip.scale, clip.contacts)
    return clip.save(path)


def write_bvh_clip(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    _, per_mm = _scale(options, "cm")
    pose = in_format(clip, sk, world)[0]
    gap_s = options.gap_s(osm.MAX_GAP_S)
    kept, held = write_bvh(path, pose, clip.fps, sk, y_up=world, units_per_mm=per_mm, rest=options.rest,
                           max_gap=round(gap_s * clip.fps))
    return _span_notes(clip, kept, held, gap_s, "the BVH")


def _span_notes(clip: Clip, kept: slice, held: np.ndarray, gap_s: float, what: str) -> str | None:
    """Where an animation without missing frames (BVH's, a rig's) starts and ends, and what it holds."""
    t = clip.timestamps
    notes = []
    if kept.start > 0 or kept.stop < len(clip):
        notes.append(f"{what} runs from {t[kept.start]:.2f} s to {t[kept.stop - 1]:.2f} s (the clip's frames "
                     f"{kept.start}-{kept.stop - 1}), where the person is seen.")
    if held.any():
        notes.append(f"{what} holds the last pose seen where the person is missing for over {gap_s:g} s (an "
                     f"animation cannot leave a frame out): {osm.spans(osm.missing_ranges(~held, t[kept]))}.")
    return _notes(*notes)


def write_rigged(path: Path, clips: tuple[Clip, ...], sk: Skeleton, world: bool, options: ExportOptions,
                 fbx: bool = False) -> str | None:
    """Each clip as a person with the humanoid rig (``gltf``), all in one glb, or in FBX through Blender.
    A root-relative clip stands on the floor at the origin, as in BVH."""
    people, notes = [], []
    gap_s = options.gap_s(osm.MAX_GAP_S)
    for k, clip in enumerate(clips):
        pose, kept, held = animation_frames(in_format(clip, H36M, world)[0], round(gap_s * clip.fps))
        name = f"person{clip.meta.get('person', k)}"
        people.append((name, on_the_floor(pose, 0, world) / 1000.0, clip.timestamps[kept]))
        notes.append(_span_notes(clip, kept, held, gap_s, f"the animation of {name}" if len(clips) > 1 else "the animation"))
    start = min(times[0] for _, _, times in people)
    animated = [Animated(name, pose, times - start) for name, pose, times in people]
    if fbx:
        write_fbx(path, animated, clips[0].fps)
    else:
        write_glb(path, animated, clips[0].fps)
    rig_note = None if sk is H36M else f"the rig's bones do not depend on --skeleton {sk.name}."
    return _notes(*notes, rig_note)


def _header(clip: Clip, sk: Skeleton, world: bool, units: str) -> dict:
    doc = {"fps": clip.fps, "skeleton": sk.name, "units": units, "axes": _axes(world)}
    if world:
        doc["camera_position_mm"] = np.round(camera_position(clip), 1).tolist()
        doc["subject_height_m"] = clip.meta["world"].get("height_m")
    return doc


def write_csv(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    """One row per frame and joint (or per frame); units in the column names, axes, fps and skeleton in
    the ``#`` header lines; gaps as empty cells."""
    pose, kp, conf, sigma = in_format(clip, sk, world)
    units, per_mm = _scale(options, "mm")
    pose = pose * per_mm
    xyz_names = [f"x_{units}", f"y_{units}", f"z_{units}"]
    with open(path, "w", newline="") as fh:
        for key, value in _header(clip, sk, world, units).items():
            fh.write(f"# {key}: {value}\n")
        note = gaps_note(np.isfinite(pose).all(axis=(1, 2)), clip.timestamps, "empty cells")
        w = csv.writer(fh)
        cell = lambda v, fmt: format(v, fmt) if np.isfinite(v) else ""  # noqa: E731
        if options.rows == "frame":
            w.writerow(["frame", "time_s"] + [f"{j}_{a}" for j in sk.joints for a in xyz_names])
            for f in range(len(clip)):
                w.writerow([f, f"{clip.timestamps[f]:.4f}"] + [cell(v, ".4f") for v in pose[f].ravel()])
            return note
        w.writerow(["frame", "time_s", "joint", *xyz_names, "confidence", "uncertainty_mm", "u_px", "v_px"])
        for f in range(len(clip)):
            seen = np.isfinite(pose[f]).all()
            for j, name in enumerate(sk.joints):
                xyz = [f"{v:.4f}" for v in pose[f, j]] if seen else ["", "", ""]
                extra = [f"{conf[f, j]:.3f}", f"{sigma[f, j]:.1f}"] if seen else ["", ""]
                uv = [f"{kp[f, j, 0]:.1f}", f"{kp[f, j, 1]:.1f}"] if seen else ["", ""]
                w.writerow([f, f"{clip.timestamps[f]:.4f}", name, *xyz, *extra, *uv])
    return note


def write_json(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    pose, kp, conf, sigma = in_format(clip, sk, world)
    frames = []
    for f in range(len(clip)):
        seen = bool(np.isfinite(pose[f]).all())
        frame = {"time_s": round(float(clip.timestamps[f]), 4),
                 "pose3d_mm": np.round(pose[f], 2).tolist() if seen else None,
                 "keypoints_px": np.round(kp[f], 1).tolist() if seen else None,
                 "confidence": np.round(conf[f], 3).tolist() if seen else None,
                 "uncertainty_mm": np.round(sigma[f], 1).tolist() if seen else None}
        if world and clip.contacts is not None:
            frame["planted"] = [foot for foot, on in zip(("left", "right"), clip.contacts[f]) if on]
        frames.append(frame)
    header = _header(clip, sk, world, "mm")
    doc = {"format": "poselift clip", "fps": clip.fps, "skeleton": sk.name, "joints": list(sk.joints),
           "parents": list(sk.parents), "units": {"pose3d": "mm", "keypoints": "px", "time": "s"},
           "axes": header.pop("axes"), **{k: v for k, v in header.items() if k not in ("fps", "skeleton", "units")},
           "meta": {k: v for k, v in clip.meta.items() if k not in ("skeleton", "units")}, "frames": frames}
    Path(path).write_text(json.dumps(doc))
    return gaps_note(np.isfinite(pose).all(axis=(1, 2)), clip.timestamps, "null")


def markers_y_up(clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> np.ndarray:
    """Marker positions (T, J, 3) in mm, Y up (OpenSim's and most biomechanics tools' convention):
    the world's, or the camera's axes turned Y up for a root-relative clip; short gaps filled if asked."""
    pose = osm.fill_gaps(in_format(clip, sk, world)[0], round(options.gap_s() * clip.fps))
    return pose if world else camera_to_y_up(pose)


def write_trc(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    """OpenSim marker file as OpenSim's own TRC writer lays it out: tab separated, Y up, metres by
    default. The OpenSim model's markers (``marker_names="opensim"``) keep only the frames with the whole
    person; the skeleton's joints keep every frame, a frame without a person as NaN in every column."""
    units, per_mm = _scale(options, "m")
    if options.marker_names == "opensim":
        m = model_motion(clip, world, options)
        osm.write_trc(path, m.marker_names, 1000.0 * per_mm * m.markers, m.frames, m.times, clip.fps, units)
        return _notes(m.note(), _model_markers_note(sk))
    m = markers_y_up(clip, sk, world, options) * per_mm
    osm.write_trc(path, marker_names(sk, options.marker_names), m, np.arange(len(m)),
                  clip.timestamps - clip.timestamps[0], clip.fps, units)
    return gaps_note(np.isfinite(m).all(axis=(1, 2)), clip.timestamps, "NaN markers")


def write_c3d(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    """C3D points (mm, Y up) through ezc3d, every frame of the clip; a frame without a person has invalid
    points (residual -1, coordinates 0), the format's own way of marking a gap. The OpenSim model's
    markers are in its ground, invalid in the frames its TRC leaves out."""
    import ezc3d

    if options.marker_names == "opensim":
        motion = model_motion(clip, world, options)
        names, note = motion.marker_names, _model_markers_note(sk)
        m = np.full((len(clip), len(names), 3), np.nan)
        m[motion.frames] = 1000.0 * motion.markers
    else:
        m, names, note = markers_y_up(clip, sk, world, options), marker_names(sk, options.marker_names), None
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [float(clip.fps)]
    c["parameters"]["POINT"]["LABELS"]["value"] = [n[:30] for n in names]
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c.add_parameter("POINT", "X_SCREEN", "+X")
    c.add_parameter("POINT", "Y_SCREEN", "+Y")
    points = np.ones((4, m.shape[1], len(m)))
    points[:3] = np.transpose(m, (2, 1, 0))  # NaN where there is no person: written as invalid points
    c["data"]["points"] = points
    c.write(str(path))
    return _notes(gaps_note(np.isfinite(m).all(axis=(1, 2)), clip.timestamps, "invalid points"), note)


def pose_angles(pose: np.ndarray, world: bool) -> dict[str, np.ndarray]:
    """Joint and segment angles (deg) per frame (``models.angles``) of H36M-17 poses (N, 17, 3) mm; NaN
    where there is no person. A root-relative pose is turned Y up as seen by a level camera, which its
    segment angles assume."""
    return joint_angles(pose if world else camera_to_y_up(pose))


def clip_angles(clip: Clip, world: bool) -> dict[str, np.ndarray]:
    """:func:`pose_angles` of the clip, in the world or root-relative."""
    return pose_angles(in_format(clip, H36M, world)[0], world)


def _angles_note(clip: Clip, world: bool) -> str | None:
    if world:
        return None
    if never_on_a_floor(clip):
        return "this person's feet never rest on a floor in the clip: trunk and pelvis angles take the camera as level."
    return ("the clip has no floor estimate: trunk and pelvis angles take the camera as level "
            "(process the video again to ground it).")


def write_mot(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    """The coordinates of Pose2Sim's OpenSim model (``models.opensim``) as an OpenSim motion file: the
    video's time, only the frames with the whole person (short gaps filled)."""
    if not world and options.frame != "camera" and never_on_a_floor(clip):
        raise ExportError("a .mot holds the OpenSim model's coordinates, which need the person on a floor, and "
                          "this person's feet never rest on one in the clip: export --to angles for angles in "
                          "camera axes.")
    if not world:
        raise ExportError("a .mot holds the OpenSim model's coordinates, which need the clip in the world: "
                          "process the video again with grounding (and export without --frame camera), or "
                          "export --to angles for angles in camera axes.")
    m = model_motion(clip, world, options)
    osm.write_mot(path, m)
    return m.note()


def write_angles_csv(path: Path, clip: Clip, sk: Skeleton, world: bool, options: ExportOptions) -> str | None:
    """The angles as CSV, one row per frame, conventions in ``models.angles``; gaps as empty cells."""
    angles = clip_angles(clip, world)
    seen = np.isfinite(np.stack(list(angles.values()), axis=1)).any(axis=1)
    with open(path, "w", newline="") as fh:
        fh.write(f"# fps: {clip.fps}\n# units: degrees\n# conventions: poselift.models.angles (X forward, Y up, "
                 f"Z right body frames)\n")
        w = csv.writer(fh)
        w.writerow(["frame", "time_s", *ANGLE_NAMES])
        for f in range(len(clip)):
            w.writerow([f, f"{clip.timestamps[f]:.4f}"] + [f"{angles[a][f]:.2f}" if np.isfinite(angles[a][f]) else ""
                                                            for a in ANGLE_NAMES])
    return _notes(gaps_note(seen, clip.timestamps, "empty cells"), _angles_note(clip, world))


# Each writer returns a note for the user, or None.
WRITERS = {"csv": write_csv, "json": write_json, "bvh": write_bvh_clip, "trc": write_trc, "c3d": write_c3d,
           "mot": write_mot, "angles": write_angles_csv}
