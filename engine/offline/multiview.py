"""A calibrated multi-camera recording as the reference for the monocular pipeline on real video.

Every view goes through the default pipeline on its own, exactly as ``poselift process`` runs it (one clip
per person where the scene has several); the 2D detections it makes on the way are triangulated across
all views into the reference (:mod:`calibration.people`); each camera's clips are scored against it
(:mod:`.multiview_scores`) in that camera's frame and in the calibration's true floor.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, filtfilt

from ...calibration.camera import Camera
from ...calibration.floor import Ground
from ...calibration.people import Reference, track_people
from ...calibration.rig import Rig, load_rig, true_ground
from ...calibration.triangulation import reprojection_errors
from ...errors import UserError
from ...models.angles import ANGLE_NAMES
from ...models.skeletons import MEDIAPIPE
from ...videos import VideoInfo, probe_video
from ..live.factory import PipelineOptions, build_pipeline
from ..live.keypoints import Keypoints, poses_looked_for
from ..live.world import has_world, world_pose
from ..outputs.clip import Clip
from .multiview_scores import (
    SHARED,
    angle_errors_deg,
    assign_results,
    contact_heights,
    gravity_error_deg,
    identity,
    labels_wrong,
    mediapipe_to_h36m,
    p2_mm,
    people_under,
    root_errors_mm,
)
from .process import process_video

MIN_SHARE = 0.05  # a reference person triangulated in fewer frames than this share is a false match
# The reference is low-passed as biomechanics (and Pose2Sim's own triangulation) low-passes markers: a
# 4th-order zero-lag Butterworth at this cut-off, for walking and slower movement; 0 leaves it as triangulated.
REFERENCE_CUTOFF_HZ = 6.0
SEEN_VISIBILITY = 0.5  # the landmarks a view's reprojection error is measured on
UP_TOLERANCE_DEG = 20.0  # the people's up further than this from every axis of the world: said with the scores


class MultiviewError(UserError, ValueError):
    """A multi-camera recording that cannot be scored; one sentence for the user."""


class DetectionTap:
    """A 2D detector passed through unchanged that keeps a copy of each frame's detections."""

    def __init__(self, detector):
        self.detector = detector
        self.frames: list[tuple[np.ndarray, np.ndarray]] = []  # per frame: (n, 33, 2) px, (n, 33)

    def __call__(self, image_bgr: np.ndarray, timestamp: float | None = None) -> list[Keypoints]:
        people = self.detector(image_bgr, timestamp)
        n = MEDIAPIPE.num_joints
        self.frames.append((np.array([k.landmarks for k in people], np.float64).reshape(-1, n, 2),
                            np.array([k.visibility for k in people], np.float64).reshape(-1, n)))
        return people

    def reset(self) -> None:
        self.detector.reset()
        self.frames = []

    def __getattr__(self, name: str):
        return getattr(self.__dict__["detector"], name)


@dataclass
class View:
    """One camera's monocular run."""
    name: str
    camera: Camera  # calibrated (the reference's); the pipeline itself ran on its default guess
    clip: Clip  # the followed person's (the camera's floor estimate)
    people: list[Clip]  # one clip per person followed (the followed one's with one person)
    detections: list[tuple[np.ndarray, np.ndarray]]  # what the pipeline's MediaPipe found, per frame


def world_up(people: np.ndarray) -> tuple[str, np.ndarray, float]:
    """The calibration world's up: the signed axis (``+Z``, ``-Y``, ...) nearest the people's own up,
    the mean direction from their mid-ankle to their mid-shoulder (``people`` (..., 33, 3) MediaPipe
    landmarks in the world, NaN where not triangulated). Returns its name, unit vector and its angle
    from the people's up (deg). Labs put up along Z (Qualisys), but a board-calibrated world may have it
    along -Z or Y."""
    i = MEDIAPIPE.joints.index
    axis = (people[..., [i("left_shoulder"), i("right_shoulder")], :].mean(-2)
            - people[..., [i("left_ankle"), i("right_ankle")], :].mean(-2)).reshape(-1, 3)
    axis = axis[np.isfinite(axis).all(-1)]
    if not len(axis):
        raise MultiviewError("nobody's shoulders and ankles were triangulated, so the world's up is unknown: "
                             "film the people whole in at least two cameras.")
    up = (axis / np.linalg.norm(axis, axis=-1, keepdims=True)).mean(0)
    up /= np.linalg.norm(up)
    k = int(np.argmax(np.abs(up)))
    axis_up = np.zeros(3)
    axis_up[k] = np.sign(up[k])
    name = ("+" if up[k] > 0 else "-") + "XYZ"[k]
    return name, axis_up, float(np.degrees(np.arccos(np.clip(abs(up[k]), -1.0, 1.0))))


def check_frame_counts(rig: Rig) -> VideoInfo:
    """The first video's size, rate and frame count, once every video is seen to hold as many frames."""
    infos = {v.name: probe_video(v, count=True) for v in rig.videos}
    if len({info.frames for info in infos.values()}) > 1:
        listed = ", ".join(f"{name} {info.frames}" for name, info in infos.items())
        raise MultiviewError(f"the videos hold different numbers of frames ({listed}): cut them to the same "
                             f"synchronised span first.")
    return next(iter(infos.values()))


def run_views(rig: Rig, options: PipelineOptions, progress: bool) -> list[View]:
    """Every video through the pipeline ``options`` describe, alone, as ``poselift process`` runs it; the
    detections of its MediaPipe front end kept."""
    pipeline, info = build_pipeline(options)
    tap = pipeline.keypoints = DetectionTap(pipeline.keypoints)
    views = []
    with tempfile.TemporaryDirectory(prefix="poselift-multiview-") as out:
        for name, video, camera in zip(rig.names, rig.videos, rig.cameras):
            pipeline.reset()  # each view on its own, as `poselift process` runs each file
            report = process_video(video, out, pipeline, info, render=False, progress=progress,
                                   two_way=not options.causal)
            clip = Clip.load(report.clip_path)
            people = [Clip.load(p) for p in report.person_clips] or [clip]
            views.append(View(name, camera, clip, people, list(tap.frames)))
    tap.close()
    return views


def reference_of(rig: Rig, views: list[View]) -> Reference:
    """The people triangulated from every view's detections, those seen in too few frames left out."""
    frames = len(views[0].detections)
    if any(len(v.detections) != frames for v in views):
        raise MultiviewError(f"the videos gave different numbers of frames ({', '.join(f'{v.name} {len(v.detections)}' for v in views)}): "
                             f"cut them to the same synchronised span first.")
    ref = track_people([[v.detections[f][0] for v in views] for f in range(frames)],
                       [[v.detections[f][1] for v in views] for f in range(frames)],
                       rig.cameras, flip=MEDIAPIPE.flip_index)
    kept = np.isfinite(ref.points).all(-1).any(-1).mean(0) >= MIN_SHARE if len(ref.ids) else np.zeros(0, bool)
    if not kept.any():
        raise MultiviewError(f"nobody was seen by two cameras at once in {rig.videos[0].parent.parent}: check that "
                             f"the videos are synchronised and the calibration is of these cameras.")
    return Reference(ref.ids[kept], ref.points[:, kept], ref.error[:, kept], ref.detections[:, kept],
                     ref.flipped[:, kept], ref.views[:, kept])


def following(people: int, views: list[View], looked_for: int, rig: Rig, options: PipelineOptions,
              progress: bool) -> list[View]:
    """The ``views``, run following ``looked_for`` people, as ``poselift process --people people`` gives
    them. One person followed where two were looked for is the same run (the front end looks for two
    either way, and everyone in view is lifted), less the other clips; otherwise the videos run again."""
    if people < looked_for and poses_looked_for(people) == poses_looked_for(looked_for):
        return [dataclasses.replace(v, people=[v.clip]) for v in views]
    again = run_views(rig, dataclasses.replace(options, people=people), progress)
    for view, done in zip(again, views):
        view.detections = done.detections  # the reference was triangulated from these
    return again


def check_cutoff(cutoff_hz: float, fps: float) -> None:
    """A low-pass cut-off the frame rate can carry (below half of it), or 0 for none."""
    if cutoff_hz >= fps / 2 > 0:
        raise MultiviewError(f"a reference cut-off of {cutoff_hz:g} Hz is not below half the videos' frame rate "
                             f"({fps:g} fps): give less than {fps / 2:g} Hz, or 0 to keep the reference as triangulated.")


def low_passed(points: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """``points`` (F, ...) filtered along time, forwards and backwards (no lag), each joint's run of
    triangulated frames on its own; a run too short to filter is left as it is."""
    check_cutoff(cutoff_hz, fps)
    if cutoff_hz <= 0:
        return points
    b, a = butter(2, cutoff_hz / (fps / 2))  # run twice by filtfilt: 4th order
    flat = points.reshape(len(points), -1, points.shape[-1])
    out = flat.copy()
    for j in range(flat.shape[1]):
        seen = np.flatnonzero(np.isfinite(flat[:, j]).all(-1))
        for run in np.split(seen, np.flatnonzero(np.diff(seen) > 1) + 1):
            if len(run) > 3 * max(len(a), len(b)):  # filtfilt's padding
                out[run, j] = filtfilt(b, a, flat[run, j], axis=0)
    return out.reshape(points.shape)


def reprojection_px(ref: Reference, views: list[View], v: int) -> float:
    """Median pixel distance from the reference, projected into view ``v``, to that view's own detection of
    each person (their landmarks seen with visibility >= ``SEEN_VISIBILITY``)."""
    errors = []
    for f, p in zip(*np.nonzero(ref.detections[:, :, v] >= 0)):
        perm = MEDIAPIPE.flip_index if ref.flipped[f, p, v] else np.arange(MEDIAPIPE.num_joints)
        uv, vis = (a[ref.detections[f, p, v]][perm] for a in views[v].detections[f])
        e = reprojection_errors(ref.points[f, p], uv[None], [views[v].camera])[0]
        errors.append(e[(vis >= SEEN_VISIBILITY) & np.isfinite(e)])
    errors = np.concatenate(errors) if errors else np.zeros(0)
    return float(np.median(errors)) if len(errors) else float("nan")


def _nan_mean(values) -> float:
    values = np.asarray([v for v in values if v is not None], np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def on_reference(view: View, ref_h36m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int | None]]:
    """The reference ``ref_h36m`` (F, P, 17, 3 lab mm) in the view's camera (mm) and projected into it
    (px); which reference person each of the view's clips lay on per frame (C, F; -1 none); and each
    reference person's clip (None: no clip was on them)."""
    ref_cam = view.camera.world_to_camera(ref_h36m)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_2d = view.camera.project(ref_cam)
    under = np.array([people_under(c.keypoints, ref_2d) for c in view.people])
    return ref_cam, ref_2d, under, assign_results(under, ref_h36m.shape[1])


def score_view(view: View, ref_h36m: np.ndarray, ids: np.ndarray, up: np.ndarray) -> dict:
    """One camera's scores: its floor against the calibration's (``up`` in the calibration's world, the
    floor at 0 along it), and each reference person (ref_h36m (F, P, 17, 3) lab mm) against the clip that
    followed them."""
    cam = view.camera
    truth = true_ground(cam, up)
    ground = Ground.from_dict(view.clip.meta["world"]["ground"]) if has_world(view.clip) else None
    floor = {"camera": view.name, "true_camera_height_m": truth.camera_height_mm / 1000,
             "camera_height_m": ground.camera_height_mm / 1000 if ground else None,
             "camera_height_error_m": (ground.camera_height_mm - truth.camera_height_mm) / 1000 if ground else None,
             "gravity_error_deg": gravity_error_deg(ground.up, truth.up) if ground else None,
             "true_pitch_deg": truth.to_dict()["pitch_deg"], "true_roll_deg": truth.to_dict()["roll_deg"]}
    ref_cam, ref_2d, under, assigned = on_reference(view, ref_h36m)
    with np.errstate(invalid="ignore"):
        present = cam.inside(ref_2d[:, :, 0]) & (ref_cam[:, :, 0, 2] > 0)  # (F, P): the pelvis in the picture
    ref_world = truth.to_world(ref_cam)  # the camera's true Y-up world, floor Y = 0
    people = []
    for p, c in enumerate(assigned):
        row = {"person": int(ids[p])}
        if c is None:
            people.append({**row, "clip": None, "followed": 0.0, "switches": 0})
            continue
        clip = view.people[c]
        followed, switches = identity(under[c], p, present[:, p])
        on = under[c] == p  # the frames scored: the clip on this person
        ours = np.where(on[:, None, None], clip.pose3d, np.nan)
        mp = mediapipe_to_h36m(np.where(on[:, None, None], clip.mediapipe_world, np.nan))
        row.update(clip=c, followed=followed, switches=switches, frames_scored=int(on.sum()),
                   labels_wrong_pct=100 * labels_wrong(clip.keypoints, np.where(on[:, None, None], ref_2d[:, p], np.nan)),
                   p2_mm=_nan_mean(p2_mm(ours, ref_h36m[:, p])),
                   p2_lift_mm=_nan_mean(p2_mm(np.where(on[:, None, None], clip.lifted, np.nan), ref_h36m[:, p]))
                   if clip.lifted is not None else None,
                   p2_mediapipe_mm=_nan_mean(p2_mm(mp, ref_h36m[:, p])))
        raw, centred, offset = root_errors_mm(np.where(on[:, None], clip.trajectory, np.nan), ref_cam[:, p, 0]) \
            if clip.trajectory is not None else (float("nan"),) * 2 + (np.full(3, np.nan),)
        row.update(root_mm=raw, root_centred_mm=centred, root_offset_mm=[round(float(v), 1) for v in offset])
        if has_world(clip):
            world = world_pose(clip)
            contacts = clip.contacts & on[:, None]
            angles = angle_errors_deg(np.where(on[:, None, None], world, np.nan), ref_world[:, p])
            row.update(foot_mm=_median(contact_heights(world, contacts)),
                       foot_reference_mm=_median(contact_heights(ref_world[:, p], contacts)),
                       contact_frames=int(contacts.any(1).sum()),
                       angles_deg=_nan_mean(angles.values()), angles={k: round(v, 2) for k, v in angles.items()})
        people.append(row)
    return {**floor, "people": people}


def evaluate_multiview(root: str | Path, options: PipelineOptions | None = None, looked_for: int = 2,
                       progress: bool = True, reference_cutoff_hz: float = REFERENCE_CUTOFF_HZ) -> dict:
    """The whole benchmark on the recording in ``root`` (``videos/``, ``calibration/``): the pipeline
    ``options`` describe (the default one when None), following up to ``looked_for`` people in each view
    (when the reference finds another number, the views as ``--people`` that many gives them:
    :func:`following`), against the reference low-passed at ``reference_cutoff_hz`` (0: as triangulated)."""
    t0 = time.perf_counter()
    options = options or PipelineOptions()
    rig = load_rig(root)
    video = check_frame_counts(rig)
    check_cutoff(reference_cutoff_hz, video.fps)
    views = run_views(rig, dataclasses.replace(options, people=looked_for), progress)
    ref = reference_of(rig, views)
    people = len(ref.ids)
    if people != looked_for:
        views = following(people, views, looked_for, rig, options, progress)
    fps = views[0].clip.fps
    ref_h36m = mediapipe_to_h36m(low_passed(ref.points, fps, reference_cutoff_hz))
    up_name, up, up_off_deg = world_up(ref.points)
    cameras = []
    for v, view in enumerate(views):
        scores = score_view(view, ref_h36m, ref.ids, up)
        cameras.append({**scores, "reprojection_px": reprojection_px(ref, views, v)})
    triangulated = np.isfinite(ref_h36m[:, :, SHARED]).all((-1, -2))  # (F, P)
    return {"dataset": str(Path(root).resolve()), "frames": video.frames, "fps": fps,
            "people_followed": len(views[0].people), "model": views[0].clip.meta.get("model"),
            "reference": {"people": [int(i) for i in ref.ids], "cutoff_hz": reference_cutoff_hz,
                          "frames_triangulated": [int(n) for n in triangulated.sum(0)]},
            "world_up": {"axis": up_name, "from_people_deg": round(up_off_deg, 1)},
            "cameras": cameras, "mean": summary(cameras), "angles": list(ANGLE_NAMES),
            "runtime_s": round(time.perf_counter() - t0, 1)}


PERSON_KEYS = ("p2_mm", "p2_lift_mm", "p2_mediapipe_mm", "foot_mm", "foot_reference_mm", "root_mm", "root_centred_mm",
               "angles_deg", "labels_wrong_pct", "followed", "switches")
CAMERA_KEYS = ("reprojection_px", "gravity_error_deg", "camera_height_error_m")


def summary(cameras: list[dict]) -> dict:
    """Means over the cameras (and people): the absolute camera height error, the rest as they are."""
    rows = [p for c in cameras for p in c["people"]]
    out = {k: _nan_mean(abs(c[k]) if k == "camera_height_error_m" and c[k] is not None else c[k] for c in cameras)
           for k in CAMERA_KEYS}
    out.update({k: _nan_mean(r.get(k) for r in rows) for k in PERSON_KEYS})
    return out


def to_json(result: dict) -> str:
    """The result as JSON, a NaN (nothing to score) written as null."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return None if isinstance(value, float) and not np.isfinite(value) else value
    return json.dumps(plain(result), indent=2)


def _fmt(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _reference_filter(cutoff_hz: float) -> str:
    return f"the reference low-passed at {cutoff_hz:g} Hz" if cutoff_hz > 0 else "the reference as triangulated"


def _up_said(up: dict) -> str:
    said = f"; the floor square to the calibration's {up['axis']}, {up['from_people_deg']:g}° from the people's up"
    if up["from_people_deg"] > UP_TOLERANCE_DEG:
        said += (f". No axis of the calibration's world is within {UP_TOLERANCE_DEG:g}° of the people's up, so the "
                 f"gravity and camera height columns are against a wrong up: give the calibration a vertical axis")
    return said


def markdown_tables(result: dict) -> str:
    """The camera table (reference and floor) and the people table, each with the mean over cameras."""
    mean = result["mean"]
    model = result.get("model") or {}
    fusion = (f"MediaPipe's 3D fused in ({model['fusion_weighting']})" if model.get("fusion")
              else "the lift alone, no fusion")
    if model.get("swap_repair") is False:
        fusion += ", MediaPipe's left/right labels as they come"
    fusion += ("; each person's first frames also lifted from their future" if model.get("two_way", False)
               else "; each frame lifted from its past only (--causal)")
    title = (f"Multi-view benchmark: {result['dataset']} ({result['frames']} frames at {result['fps']:g} fps, "
             f"{len(result['cameras'])} cameras, {len(result['reference']['people'])} people; the monocular "
             f"pipeline following up to {result['people_followed']}, {fusion}; P2 lift alone: before the fusion; "
             f"{_reference_filter(result['reference'].get('cutoff_hz', 0))}{_up_said(result['world_up'])})")
    header = ("| camera | reference reprojection (px) | gravity error (deg) | camera height est. / true (m) "
              "| camera height error (m) | true pitch / roll (deg) |")
    lines = [title, "", header, "|---|---|---|---|---|---|"]
    for c in result["cameras"]:
        lines.append(f"| {c['camera']} | {_fmt(c['reprojection_px'], 1)} | {_fmt(c['gravity_error_deg'], 1)} "
                     f"| {_fmt(c['camera_height_m'], 2)} / {_fmt(c['true_camera_height_m'], 2)} "
                     f"| {_fmt(c['camera_height_error_m'], 2)} | {_fmt(c['true_pitch_deg'])} / {_fmt(c['true_roll_deg'])} |")
    lines.append(f"| **mean** | {_fmt(mean['reprojection_px'], 1)} | {_fmt(mean['gravity_error_deg'], 1)} | "
                 f"| {_fmt(mean['camera_height_error_m'], 2)} (abs) | |")
    lines += ["", "| camera | person | P2 ours (mm) | P2 lift alone (mm) | P2 MediaPipe (mm) "
                  + "| foot in contact ours / reference (mm) | root (mm) | root, offset removed (mm) | angles (deg) "
                  + "| left/right labels wrong (%) | followed (%) | switches |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def person_row(camera: str, person: str, r: dict) -> str:
        followed = r.get("followed")
        return (f"| {camera} | {person} | {_fmt(r.get('p2_mm'))} | {_fmt(r.get('p2_lift_mm'))} "
                f"| {_fmt(r.get('p2_mediapipe_mm'))} "
                f"| {_fmt(r.get('foot_mm'))} / {_fmt(r.get('foot_reference_mm'))} | {_fmt(r.get('root_mm'))} "
                f"| {_fmt(r.get('root_centred_mm'))} | {_fmt(r.get('angles_deg'), 1)} | {_fmt(r.get('labels_wrong_pct'), 1)} "
                f"| {_fmt(None if followed is None else 100 * followed)} | {_fmt(r.get('switches'), 1 if camera.startswith('**') else 0)} |")

    for c in result["cameras"]:
        for r in c["people"]:
            lines.append(person_row(c["camera"], str(r["person"]), r))
    lines.append(person_row("**mean**", "", mean))
    return "\n".join(lines)
