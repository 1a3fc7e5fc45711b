"""Pose2Sim's OpenSim model (Model_Pose2Sim_simple.osim): its coordinates from world poses, its .mot and TRC."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rotations import swing, unit
from .skeletons import H36M, MEDIAPIPE

# The model's coordinates in the order of the .mot's columns (degrees, pelvis_t* in metres).
COORDINATES = ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
               "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r",
               "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l",
               "L5_S1_Flex_Ext", "L5_S1_Lat_Bending", "L5_S1_axial_rotation",
               "arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r", "arm_flex_l", "arm_add_l", "arm_rot_l", "elbow_flex_l")
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
FOOT = ("left_heel", "right_heel", "left_foot_index", "right_foot_index")
# TRC marker (Markers_BlazePose.xml) -> H36M joint or FOOT point; heels and toes only when feet are given.
MARKERS = {"LShoulder": "left_shoulder", "RShoulder": "right_shoulder", "LElbow": "left_elbow", "RElbow": "right_elbow",
           "LWrist": "left_wrist", "RWrist": "right_wrist", "LHip": "left_hip", "RHip": "right_hip",
           "LKnee": "left_knee", "RKnee": "right_knee", "LAnkle": "left_ankle", "RAnkle": "right_ankle",
           "LHeel": "left_heel", "RHeel": "right_heel", "LBigToe": "left_foot_index", "RBigToe": "right_foot_index"}
MAX_GAP_S = 0.25  # gaps up to this long are interpolated; longer ones, and the ends, are left out

# The model's geometry (m, pelvis frame: X forward, Y up, Z right; right side, Z mirrored on the left).
HIP_MARKERS_WIDTH = 2 * 0.105406  # LHip to RHip
HIP_MARKER_TO_ORIGIN = np.array([0.063927, 0.081343, 0.0])  # from the mid-hip markers to the pelvis origin
HIP_MARKER_TO_CENTRE = np.array([-0.0068, 0.015243, -0.021906])  # from RHip to the right hip joint centre
MODEL_SHANK = 0.40783  # RKnee to RAnkle
# RHeel, RBigToe from RAnkle at ankle_angle 0, in the shank's frame (Y to the knee marker, Z to the right)
MODEL_FOOT = np.array([[-0.03541, -0.03985, -0.01021], [0.16573, -0.0579, -0.00772]])
TRUNK_LEAN = np.arctan2(0.04952, 0.52925)  # mid-hip to mid-shoulder markers leans back this much at lumbar 0
# coordinate = gain * (the angle of the markers' geometry) + offset (deg), fitted on the model posed in
# OpenSim: the frames of its hip, walker knee (coupled), oblique ankle axis and elbow (carrying angle).
CALIBRATION = {"hip_flexion": (1.0, 0.78), "knee_angle": (1.019, 1.76), "ankle_angle": (1.01, 6.56),
               "arm_flex": (1.0, -8.22), "arm_add": (0.97, -7.85), "elbow_flex": (1.02, 8.39)}


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1)


def _perp(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    return v - _dot(v, axis)[..., None] * axis


def _frame(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Body axes as the columns of (..., 3, 3): ground from body."""
    return np.stack([x, y, z], axis=-1)


def _trunk_frame(lateral: np.ndarray, trunk: np.ndarray) -> np.ndarray:
    """Z along ``lateral``, Y up such that the model's trunk at lumbar 0 (leaning back ``TRUNK_LEAN``) points along ``trunk``."""
    z = unit(lateral)
    y0 = unit(_perp(trunk, z))
    x0 = np.cross(y0, z)
    c, s = np.cos(TRUNK_LEAN), np.sin(TRUNK_LEAN)
    y = c * y0 + s * x0
    return _frame(np.cross(y, z), y, z)


def _pelvis(left_hip: np.ndarray, right_hip: np.ndarray, trunk: np.ndarray) -> tuple[np.ndarray, float]:
    """The model's pelvis frame (..., 3, 3) from the hip markers and the trunk's direction, and the
    body's size against the model's (hip marker widths, in the poses' units per metre)."""
    width = np.linalg.norm(right_hip - left_hip, axis=-1)
    size = np.nanmedian(width) / HIP_MARKERS_WIDTH if np.isfinite(width).any() else 1.0
    return _trunk_frame(right_hip - left_hip, trunk), size


def _hip_centre(hip: np.ndarray, pelvis: np.ndarray, size: float, mirror: float) -> np.ndarray:
    """The hip joint's centre from its marker (``mirror`` -1 on the left)."""
    return hip + size * (pelvis @ (HIP_MARKER_TO_CENTRE * [1.0, 1.0, mirror]))


def _knee_hint(foot: np.ndarray, knee: np.ndarray, ankle: np.ndarray) -> np.ndarray:
    """Where the knee's axis leans where the leg is straight: square to the foot and the shank."""
    return unit(np.cross(foot, knee - ankle))


def _limb_frame(top: np.ndarray, mid: np.ndarray, end: np.ndarray, hint: np.ndarray, sign: float) -> np.ndarray:
    """Y from ``mid`` to ``top``, Z the hinge's axis (the plane of the three points, ``sign`` +1 for the
    knee, -1 for the elbow), leaning on ``hint`` where the limb is straight."""
    y = unit(top - mid)
    hinge = sign * np.cross(end - mid, mid - top) / (np.linalg.norm(mid - top, axis=-1) ** 2)[..., None]
    z = unit(_perp(hinge + 0.25 * hint, y))
    return _frame(np.cross(y, z), y, z)


def euler_zxy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body-fixed Z, X, Y angles (rad) of rotations (..., 3, 3) = Rz(a) Rx(b) Ry(c): OpenSim's CustomJoint order here."""
    a = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    b = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    c = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    return a, b, c


def _relative(parent: np.ndarray, child: np.ndarray) -> np.ndarray:
    return np.swapaxes(parent, -1, -2) @ child


def _sagittal(v: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The angle (deg) of ``v`` in ``frame``'s X-Y plane, from its -Y towards +X."""
    return np.degrees(np.arctan2(_dot(v, frame[..., 0]), -_dot(v, frame[..., 1])))


def ground_rotation(world: np.ndarray) -> np.ndarray:
    """(3, 3) taking world points (Y up) to OpenSim's ground for this model: X the way the pelvis faces
    on average (the walking direction of a walk), Y up, Z to the right."""
    p = np.asarray(world, np.float64)
    j = {n: p[:, i] for i, n in enumerate(H36M.joints)}
    forward = unit(np.cross([0.0, 1.0, 0.0], j["right_hip"] - j["left_hip"]))
    mean = np.nanmean(forward, axis=0) if np.isfinite(forward).any() else np.array([1.0, 0.0, 0.0])
    heading = unit(mean * [1.0, 0.0, 1.0])
    return np.stack([heading, [0.0, 1.0, 0.0], np.cross(heading, [0.0, 1.0, 0.0])])


def foot_points(world: np.ndarray, mediapipe: np.ndarray, camera_to_world: np.ndarray) -> np.ndarray:
    """Heels and foot indices (N, 4, 3) mm in the world (order ``FOOT``): the model's foot (its BlazePose
    heel and big-toe markers, scaled with the shank) placed at each ankle of the world pose (N, 17, 3)
    and turned up or down the way MediaPipe's own 3D (N, 33, 3; camera axes, its scale) points the foot
    relative to the shank (MediaPipe's shank laid along the world pose's; its legs taken in whichever
    left/right order fits the world pose's better, frame by frame). About the shank, the foot is turned as
    :func:`coordinates` takes the knee's axis (square to the plane the knee bends in, leaning on the foot's
    own direction where the leg is straight), as in the model, whose knee is a hinge and whose foot does
    not turn about the shank: MediaPipe's own turn (16-22° out of that plane on the demo walker's left)
    bent OpenSim's IK knee and ankle away from the .mot's by up to 7° RMS."""
    mp = np.asarray(mediapipe, np.float64) @ np.asarray(camera_to_world, np.float64).T
    w = np.asarray(world, np.float64)
    i, h = MEDIAPIPE.joints.index, H36M.joints.index
    shoulders = (w[:, h("left_shoulder")] + w[:, h("right_shoulder")]) / 2
    hips = {s: w[:, h(f"{s}_hip")] for s in ("left", "right")}
    pelvis, size_hips = _pelvis(hips["left"], hips["right"], shoulders - (hips["left"] + hips["right"]) / 2)
    legs = {s: [i(f"{s}_{n}") for n in ("knee", "ankle", "heel", "foot_index")] for s in ("left", "right")}
    ours = {s: (w[:, h(f"{s}_knee")], w[:, h(f"{s}_ankle")]) for s in ("left", "right")}
    shank = {s: unit(mp[:, legs[s][1]] - mp[:, legs[s][0]]) for s in legs}
    fit = sum(_dot(shank[s], unit(ours[s][1] - ours[s][0])) for s in legs)
    crossed = sum(_dot(shank[s], unit(ours[t][1] - ours[t][0])) for s, t in (("left", "right"), ("right", "left")))
    swap = (crossed > fit)[:, None, None]
    f0 = MODEL_FOOT[1] - MODEL_FOOT[0]
    out = {}
    for side, other, mirror in (("left", "right", -1.0), ("right", "left", 1.0)):
        src = np.where(swap, mp[:, legs[other]], mp[:, legs[side]])
        knee, ankle = ours[side]
        rot = swing(unit(src[:, 1] - src[:, 0]), unit(ankle - knee))
        foot = (rot @ (src[:, 3] - src[:, 2])[..., None])[..., 0]
        y = unit(knee - ankle)
        femur = _limb_frame(_hip_centre(hips[side], pelvis, size_hips, mirror), knee, ankle, _knee_hint(foot, knee, ankle), 1.0)
        z = unit(_perp(femur[..., 2], y))  # the knee's axis, as coordinates() takes it
        x = np.cross(y, z)
        turn = np.arctan2(_dot(foot, y), _dot(foot, x)) - np.arctan2(f0[1], f0[0])
        c, s = np.cos(turn)[:, None], np.sin(turn)[:, None]
        size = np.linalg.norm(knee - ankle, axis=-1)[:, None] / (1000.0 * MODEL_SHANK)
        for k, name in enumerate(("heel", "foot_index")):
            ox, oy, oz = 1000.0 * MODEL_FOOT[k] * [1.0, 1.0, mirror]
            out[f"{side}_{name}"] = ankle + size * ((c * ox - s * oy) * x + (s * ox + c * oy) * y + oz * z)
    return np.stack([out[n] for n in FOOT], axis=1)


def coordinates(world: np.ndarray, feet: np.ndarray | None, rotation: np.ndarray) -> dict[str, np.ndarray]:
    """The model's coordinates (``COORDINATES``; deg, pelvis_t* m) per frame from world poses (N, 17, 3)
    mm, Y up, and optionally ``feet`` (N, 4, 3) mm (``FOOT``; without them the ankles are absent), in the
    ground ``rotation`` (``ground_rotation``). NaN where the pose is."""
    rot = np.asarray(rotation, np.float64)
    p = np.asarray(world, np.float64) @ rot.T / 1000.0
    j = {n: p[..., k, :] for k, n in enumerate(H36M.joints)}
    if feet is not None:
        f = np.asarray(feet, np.float64) @ rot.T / 1000.0
        j.update({n: f[..., k, :] for k, n in enumerate(FOOT)})
    mid_hip = (j["left_hip"] + j["right_hip"]) / 2
    trunk = (j["left_shoulder"] + j["right_shoulder"]) / 2 - mid_hip
    pelvis, size = _pelvis(j["left_hip"], j["right_hip"], trunk)
    torso = _trunk_frame(j["right_shoulder"] - j["left_shoulder"], trunk)
    out: dict[str, np.ndarray] = {}
    tilt, obl, turn = euler_zxy(pelvis)
    out["pelvis_tilt"], out["pelvis_list"], out["pelvis_rotation"] = np.degrees([tilt, obl, turn])
    origin = mid_hip + size * (pelvis @ HIP_MARKER_TO_ORIGIN)
    out["pelvis_tx"], out["pelvis_ty"], out["pelvis_tz"] = origin[..., 0], origin[..., 1], origin[..., 2]
    flex, bend, axial = euler_zxy(_relative(pelvis, torso))
    out["L5_S1_Flex_Ext"], out["L5_S1_Lat_Bending"], out["L5_S1_axial_rotation"] = np.degrees([flex, bend, axial])
    for s, side, mirror in (("r", "right", 1.0), ("l", "left", -1.0)):
        centre = _hip_centre(j[f"{side}_hip"], pelvis, size, mirror)
        knee, ankle = j[f"{side}_knee"], j[f"{side}_ankle"]
        hint = pelvis[..., 2] if feet is None else _knee_hint(j[f"{side}_foot_index"] - j[f"{side}_heel"], knee, ankle)
        femur = _limb_frame(centre, knee, ankle, hint, 1.0)
        a, b, c = euler_zxy(_relative(pelvis, femur))
        out[f"hip_flexion_{s}"] = np.degrees(a)
        out[f"hip_adduction_{s}"], out[f"hip_rotation_{s}"] = mirror * np.degrees(b), mirror * np.degrees(c)
        out[f"knee_angle_{s}"] = -_sagittal(ankle - knee, femur)
        if feet is not None:
            tibia = _frame(np.cross(unit(knee - ankle), femur[..., 2]), unit(knee - ankle), femur[..., 2])
            foot = j[f"{side}_foot_index"] - j[f"{side}_heel"]
            out[f"ankle_angle_{s}"] = np.degrees(np.arctan2(_dot(foot, tibia[..., 1]), _dot(foot, tibia[..., 0])))
        shoulder, elbow, wrist = j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]
        humerus = _limb_frame(shoulder, elbow, wrist, torso[..., 2], -1.0)
        a, b, c = euler_zxy(_relative(torso, humerus))
        out[f"arm_flex_{s}"] = np.degrees(a)
        out[f"arm_add_{s}"], out[f"arm_rot_{s}"] = mirror * np.degrees(b), mirror * np.degrees(c)
        out[f"elbow_flex_{s}"] = _sagittal(wrist - elbow, humerus)
    for k, v in out.items():
        gain, offset = CALIBRATION.get(k[:-2], (1.0, 0.0))
        out[k] = gain * v + offset
    return {k: out[k] for k in COORDINATES if k in out}


def fill_gaps(values: np.ndarray, max_frames: int) -> np.ndarray:
    """``values`` (N, ...) with each run of NaN frames no longer than ``max_frames``, seen on both sides,
    filled by linear interpolation; longer runs and the ends stay NaN."""
    v = np.asarray(values, np.float64)
    seen = np.isfinite(v.reshape(len(v), -1)).all(-1)
    out = v.copy()
    idx = np.flatnonzero(seen)
    for a, b in itertools.pairwise(idx):
        if 1 < b - a <= max_frames + 1:
            w = ((np.arange(a + 1, b) - a) / (b - a)).reshape((-1,) + (1,) * (v.ndim - 1))
            out[a + 1:b] = (1 - w) * v[a] + w * v[b]
    return out


def missing_ranges(seen: np.ndarray, times: np.ndarray) -> list[tuple[float, float]]:
    """The (first, last) times of each run of frames not ``seen``."""
    runs, start = [], None
    for k, s in enumerate(list(seen) + [True]):
        if not s and start is None:
            start = k
        elif s and start is not None:
            runs.append((float(times[start]), float(times[k - 1])))
            start = None
    return runs


def trc_markers(world: np.ndarray, feet: np.ndarray | None, rotation: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Marker names (``MARKERS``) and positions (N, M, 3) in metres in the model's ground ``rotation``."""
    rot = np.asarray(rotation, np.float64)
    points = {n: np.asarray(world, np.float64)[:, k] for k, n in enumerate(H36M.joints)}
    if feet is not None:
        points.update({n: np.asarray(feet, np.float64)[:, k] for k, n in enumerate(FOOT)})
    names = [m for m, src in MARKERS.items() if src in points]
    return names, np.stack([points[MARKERS[m]] for m in names], axis=1) @ rot.T / 1000.0


@dataclass(frozen=True)
class Motion:
    """What a .mot and a TRC for the model hold: only frames with every value, in the model's ground."""
    frames: np.ndarray  # (K,) the clip's frames kept
    times: np.ndarray  # (K,) s, the video's time of each
    coordinates: dict[str, np.ndarray]  # COORDINATES -> (K,) deg, pelvis_t* m
    marker_names: list[str]
    markers: np.ndarray  # (K, M, 3) m
    left_out: list[tuple[float, float]]  # (first, last) times of the frames left out
    max_gap_s: float = MAX_GAP_S  # gaps up to this long were interpolated

    def note(self) -> str | None:
        if not self.left_out:
            return None
        return f"frames without the person (or a gap over {self.max_gap_s:g} s) are left out: {spans(self.left_out)}."


def spans(ranges: list[tuple[float, float]]) -> str:
    """``[(0.0, 1.4), (6.8, 7.6), (8.0, 8.0)]`` -> ``0.00-1.40 s, 6.80-7.60 s, 8.00 s``."""
    return ", ".join(f"{a:.2f}-{b:.2f} s" if b > a else f"{a:.2f} s" for a, b in ranges)


def motion(world: np.ndarray, times: np.ndarray, fps: float, feet: np.ndarray | None = None,
           max_gap_s: float = MAX_GAP_S) -> Motion:
    """The model's coordinates and markers of world poses (N, 17, 3) mm, Y up (and ``feet`` (N, 4, 3) mm,
    ``FOOT``): gaps up to ``max_gap_s`` interpolated, the frames still without a pose left out."""
    gap = round(max_gap_s * fps)
    w = fill_gaps(world, gap)
    seen = np.isfinite(w.reshape(len(w), -1)).all(-1)
    f = None if feet is None else fill_gaps(feet, gap)
    if f is not None:
        seen &= np.isfinite(f.reshape(len(f), -1)).all(-1)
    kept = np.flatnonzero(seen)
    rotation = ground_rotation(w[kept])
    fk = None if f is None else f[kept]
    names, markers = trc_markers(w[kept], fk, rotation)
    return Motion(kept, np.asarray(times, np.float64)[kept], coordinates(w[kept], fk, rotation), names, markers,
                  missing_ranges(seen, np.asarray(times)), max_gap_s)


def write_mot(path: str | Path, m: Motion) -> Path:
    """An OpenSim Storage motion file (degrees, pelvis_t* m, the video's time): every row complete."""
    path, names = Path(path), list(m.coordinates)
    table = np.stack([m.coordinates[c] for c in names], axis=1) if names else np.zeros((len(m.times), 0))
    if not np.isfinite(table).all():
        raise ValueError("OpenSim's Storage stops at the first NaN row: fill or leave out the frames without a pose.")
    lines = [path.stem, "version=1", f"nRows={len(table)}", f"nColumns={len(names) + 1}", "inDegrees=yes", "endheader",
             "time\t" + "\t".join(names)]
    lines += [f"{t:.6f}\t" + "\t".join(f"{v:.6f}" for v in row) for t, row in zip(m.times, table)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_trc(path: str | Path, names: list[str], markers: np.ndarray, frames: np.ndarray, times: np.ndarray,
              fps: float, units: str = "m") -> Path:
    """Markers (N, K, 3), already in ``units`` (m, cm or mm), as OpenSim's own TRC writer lays them out: tab
    separated, every data row ending with a tab, a missing marker NaN; ``frames`` are the video's frame
    indices (from 0), ``times`` seconds."""
    path = Path(path)
    n, k = markers.shape[:2]
    rate = f"{fps:g}"
    digits = 6 if units == "m" else 3
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             f"{rate}\t{rate}\t{n}\t{k}\t{units}\t{rate}\t{int(frames[0]) + 1 if n else 1}\t{n}",
             "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
             "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(k)) + "\t", ""]
    lines += [f"{int(f) + 1}\t{t:.6f}\t" + "\t".join(f"{v:.{digits}f}" if np.isfinite(v) else "NaN" for v in row.ravel())
              + "\t" for f, t, row in zip(frames, times, markers)]
    path.write_text("\n".join(lines) + "\n")
    return path
