"""The world protocol on Human3.6M: where the lifted body stands, not only its shape.

Each S9/S11 sequence is lifted causally (as in ``evaluate``), scaled to a subject height, placed by
the closed-form trajectory and filtered (``models.world``); scored against the camera-frame ground
truth: root position error, absolute MPJPE (no root alignment), root velocity error, and how well the
floor (gravity's direction and the camera's height) is found from the lifted feet alone; and the
joint angles (``models.angles``) of the lifted pose against those of the motion capture, both turned
into the gravity-aligned world by the true camera rotation (so the angles alone are scored).
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from . import metrics
from .evaluate import predict_sequence
from .h36m import MISSING_NOTE, Sequence
from .lifter import TemporalLifter, window_2d
from .nets.tgraphnet import root_position
from .angles import ANGLE_NAMES, angle_difference, joint_angles
from .world import ANKLES, body_up, camera_trajectory, fit_ground, stature_mm

# The heights used: one assumed for everyone, or each subject's own (the stature its mocap skeleton implies).
HEIGHTS = ("default", "subject")


def evaluate_world(model: TemporalLifter, sequences: list[Sequence], source: str = "gt", height_m: float = 1.70,
                   heights: str = "default", flip: bool = True, progress: bool = False) -> dict:
    """Root error, absolute MPJPE (mm), root velocity error (mm/frame), the floor's tilt error (deg)
    and camera-height error (mm), per action and their mean over actions."""
    head = bool(getattr(model.spec, "trajectory", False))  # TGraphNet's learned root, scored beside the closed form
    rows: dict[str, list] = {k: [] for k in ("root", "root_raw", "root_head", "abs_mpjpe", "root_vel", "up_deg",
                                             "camera_height", *(f"angle:{a}" for a in ANGLE_NAMES))}
    for seq in tqdm(sequences, desc=f"world {source}", disable=not progress, leave=False):
        px = seq.detections if source == "sh" else seq.pose2d
        if px is None:
            continue
        conf = seq.camera.inside(px).astype(np.float64)
        kp = seq.camera.normalize(px)
        pred, _, *learned = predict_sequence(model, window_2d(kp, conf), flip, with_root=head)
        gt = seq.pose3d.astype(np.float64)
        h = height_m if heights == "default" else float(np.median(stature_mm(gt))) / 1000.0
        times = np.arange(len(seq)) / seq.fps
        scale, root = camera_trajectory(pred, seq.camera.rays(px), conf, times, h)
        _, raw = camera_trajectory(pred, seq.camera.rays(px), conf, times, h, smooth=False)
        absolute = scale[:, None, None] * pred + root[:, None]
        n = len(seq)
        rows["root"].append((seq.action, metrics.trajectory_error(root, gt[:, 0]), n))
        rows["root_raw"].append((seq.action, metrics.trajectory_error(raw, gt[:, 0]), n))
        if learned:
            xyz = root_position(*(torch.as_tensor(a) for a in (learned[0], kp, conf))).numpy()
            rows["root_head"].append((seq.action, metrics.trajectory_error(xyz, gt[:, 0]), n))
        rows["abs_mpjpe"].append((seq.action, float(metrics.mpjpe(absolute, gt).mean()), n))
        rows["root_vel"].append((seq.action, float(np.linalg.norm(np.diff(root, axis=0) - np.diff(gt[:, 0], axis=0),
                                                                  axis=-1).mean()), n))
        fit = fit_ground([(absolute[:, ANKLES], times)], body_up(absolute), 1000.0 * h)
        if fit is not None:
            ground = fit.ground
            true_up = np.asarray(seq.camera.R)[:, 2]  # world Z (up) in camera axes
            rows["up_deg"].append((seq.action, float(np.degrees(np.arccos(np.clip(np.dot(ground.up, true_up), -1, 1)))), n))
            rows["camera_height"].append((seq.action, abs(ground.camera_height_mm - float(seq.camera.T[2])), n))
        to_world = lambda x: (x @ np.asarray(seq.camera.R))[..., [0, 2, 1]] * [1, 1, -1]  # noqa: E731  Z up -> Y up
        want, got = joint_angles(to_world(gt)), joint_angles(to_world(pred))
        for a in ANGLE_NAMES:
            rows[f"angle:{a}"].append((seq.action, float(np.abs(angle_difference(got[a], want[a])).mean()), n))
    result: dict = {"source": source, "heights": heights, "height_m": height_m if heights == "default" else None,
                    "frames": int(sum(r[2] for r in rows["root"])), "flip": flip, "note": MISSING_NOTE,
                    "per_action": {}, "mean": {}}
    result["per_action"], result["mean"] = metrics.per_action_results(rows)
    return result


WORLD_METRICS = {"root": "root position (mm)", "root_raw": "root, unfiltered (mm)",
                 "root_head": "root, learned head (mm)", "abs_mpjpe": "absolute MPJPE (mm)",
                 "root_vel": "root velocity (mm/frame)", "up_deg": "gravity direction (deg)",
                 "camera_height": "camera height (mm)"}


def world_table(results: list[dict]) -> str:
    """One row per (2D source, height): the mean over actions of every world metric."""
    shown = {k: v for k, v in WORLD_METRICS.items() if any(k in r["mean"] for r in results)}
    lines = ["| 2D input | height | " + " | ".join(shown.values()) + " |", "|---" * (len(shown) + 2) + "|"]
    for r in results:
        height = f"{r['height_m']:g} m" if r["heights"] == "default" else "per subject"
        vals = [f"{r['mean'][k]:.1f}" if k in r["mean"] else "-" for k in shown]
        lines.append(f"| {r['source'].upper()} | {height} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + f"\n\n{results[0]['frames']} frames per row. {MISSING_NOTE}" if results else ""


def angles_table(results: list[dict]) -> str:
    """Mean absolute angle error (deg), lifted pose against motion capture: one column per result."""
    heads = [f"{r['source'].upper()} 2D" for r in results if r["heights"] == "default"]
    lines = ["| angle (deg) | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for a in ANGLE_NAMES:
        vals = [f"{r['mean'][f'angle:{a}']:.1f}" for r in results if r["heights"] == "default"]
        lines.append(f"| {a} | " + " | ".join(vals) + " |")
    return "\n".join(lines)
