"""The evaluation protocol: S9 and S11, every camera, every frame; P1/P2 per action, then the mean."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..calibration import Camera
from . import metrics
from .h36m import FPS, MISSING_NOTE, Sequence
from .lifter import average_with_mirror, expected_error, input_from_rows, window_2d, with_mirror
from .nets.tgraphnet import root_position
from .occlusion import occlude
from .windows import Augment, lift_stride, mediapipe_errors

# (pose, uncertainty, 2D network input) of a whole sequence -> refined pose, resampled-joint mask
SequenceRefiner = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@torch.no_grad()
def predict_sequence(model: torch.nn.Module, rows: torch.Tensor, flip: bool = True, with_root: bool = False,
                     stride: int = 1):
    """Causal prediction for every frame of a sequence, as the live stream would give it (for a
    non-causal model, with the future frames it needs).

    ``model`` is any lifter architecture; ``rows`` (N, J+1, 3): the sequence's ``window_2d``
    (normalised 2D with the pelvis row). The start is padded with copies of the first frame, exactly as
    the streaming lifter starts (and the end with copies of the last, for a non-causal model).
    ``flip`` also lifts the mirrored input and averages the two. ``stride`` > 1 lifts every
    ``stride``-th frame as one sequence, each of the ``stride`` phases on its own, as the live stream
    does with a video faster than the lifter's training rates (``windows.lift_stride``). Returns pose
    (N, J, 3) mm and uncertainty (N, J) mm, and with ``with_root`` the trajectory head's output (N,) as well.
    """
    if stride > 1:
        phases = [predict_sequence(model, rows[r::stride], flip, with_root) for r in range(min(stride, len(rows)))]
        out = []
        for parts in zip(*phases):
            whole = np.empty((len(rows), *parts[0].shape[1:]), parts[0].dtype)
            for r, part in enumerate(parts):
                whole[r::stride] = part
            out.append(whole)
        return tuple(out)
    x = input_from_rows(rows.to(next(model.parameters()).device), model.spec)
    past, future = model.context
    x = torch.cat([x[:1].expand(past, -1, -1), x, x[-1:].expand(future, -1, -1)])
    batch = with_mirror(x) if flip else x[None]
    chunk = getattr(model, "eval_chunk", 8192)
    poses, scales, roots = [], [], []
    for s in range(0, len(rows), chunk):
        out = model(batch[:, s: s + chunk + past + future], **({"with_root": True} if with_root else {}))
        p, ls = average_with_mirror(*out[:2]) if flip else (out[0][0], out[1][0])
        poses.append(p)
        scales.append(expected_error(ls))
        if with_root:
            roots.append(out[2].mean(0))  # the mirror image's depth is the frame's own
    result = torch.cat(poses).cpu().numpy(), torch.cat(scales).cpu().numpy()
    return (*result, torch.cat(roots).cpu().numpy()) if with_root else result


def resample(kp: np.ndarray, fps: float, source_fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Linearly resample a ``source_fps`` sequence to ``fps``. Returns the new sequence and, for each
    new frame, the source frame it coincides with (-1 where it falls between source frames)."""
    t = np.arange(0, len(kp) - 1 + 1e-9, source_fps / fps)
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, len(kp) - 1)
    a = (t - i0)[:, None, None]
    exact = np.isclose(t, np.round(t), atol=1e-6)
    return (1 - a) * kp[i0] + a * kp[i1], np.where(exact, np.round(t).astype(int), -1)


# The MediaPipe-shaped errors the "mp" source adds: hip-offset spread, correlated jitter up to 2 % of
# the pose's 2D size, and per 81 frames a one-in-ten chance of a left/right swap.
MP_ERRORS = Augment(hip_spread=0.08, jitter=0.02, swap=0.1)


def mediapipe_shaped(kp: np.ndarray, conf: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 2D sequence (N, J, 2), (N, J) with MediaPipe-shaped errors (``MP_ERRORS``), seeded."""
    gen = torch.Generator().manual_seed(seed)
    out = mediapipe_errors(torch.as_tensor(kp, dtype=torch.float32)[None], torch.as_tensor(conf, dtype=torch.float32)[None],
                           torch.ones(1, dtype=torch.bool), gen, MP_ERRORS, events=-(-len(kp) // 81))
    return out[0][0].numpy().astype(kp.dtype), out[1][0].numpy().astype(conf.dtype)


def evaluate(model: torch.nn.Module, sequences: list[Sequence], source: str = "gt", fps: float = FPS,
             frame_step: int = 1, occlusion: float = 0.0, seed: int = 0, refiner: SequenceRefiner | None = None,
             flip: bool = True, progress: bool = False, hfov_guess: float | None = None) -> dict:
    """P1, P2, N-MPJPE, 3DPCK, AUC, velocity and acceleration error, per action and mean.

    ``source`` is "gt" (projected ground truth), "sh" (Stacked Hourglass detections; cameras
    without detections are skipped) or "mp" (ground truth with MediaPipe-shaped errors, seeded).
    ``frame_step`` > 1 scores a subset of frames (validation only).
    A model with a trajectory head (TGraphNet's) is also scored on the root's position in the camera
    frame (MRPE, mm).
    ``occlusion`` > 0 corrupts that fraction of joint-frames in runs (the same ones for a given
    ``seed``); ``refiner`` refines the lifter's output before it is scored; ``flip`` averages the lifter
    over the input and its mirror image. Sequences recorded at another rate than ``fps`` (Human3.6M:
    50 Hz) are resampled to it. ``hfov_guess`` normalises the 2D with intrinsics guessed from that
    field of view across the longer side (centred principal point, no distortion), as an uncalibrated user's camera
    is, instead of each camera's calibration.
    """

    rows: dict[str, list] = {k: [] for k in ("p1", "p2", "n_mpjpe", "pck", "auc", "vel", "accel", "mrpe")}
    trajectory = bool(getattr(model.spec, "trajectory", False))
    errors, sigmas, resampled = [], [], []
    for i, seq in enumerate(tqdm(sequences, desc=f"eval {source}", disable=not progress, leave=False)):
        px = seq.detections if source == "sh" else seq.pose2d
        if px is None:
            continue
        camera = seq.camera if hfov_guess is None else Camera.from_fov(seq.camera.width, seq.camera.height, hfov_guess)
        kp = camera.normalize(px)
        kp, src_frame = resample(kp, fps, seq.fps) if fps != seq.fps else (kp, np.arange(len(kp)))
        # Joints outside the image (virtual cameras filming close) get confidence 0, as MediaPipe gives.
        conf = seq.camera.inside(px).astype(np.float64)
        conf = resample(conf[..., None], fps, seq.fps)[0][..., 0] if fps != seq.fps else conf
        if source == "mp":
            kp, conf = mediapipe_shaped(kp, conf, seed * 1_000_003 + i)
        if occlusion > 0:
            kp, conf, _ = occlude(kp, conf, occlusion, np.random.default_rng([seed, i]))
        x2d = window_2d(kp, conf)
        pred, sigma, *root = predict_sequence(model, x2d, flip, with_root=trajectory, stride=lift_stride(fps))
        if refiner is not None:
            pred, mask = refiner(pred, sigma, x2d.numpy())
            resampled.append(mask[:, 1:].mean())
        keep = np.flatnonzero(src_frame >= 0)[::frame_step]
        gt = seq.pose3d[src_frame[keep]] - seq.pose3d[src_frame[keep], :1]
        pred, sigma = pred[keep], sigma[keep]
        n = len(keep)
        if root:
            xyz = root_position(torch.as_tensor(root[0][keep]), torch.as_tensor(kp[keep]), torch.as_tensor(conf[keep])).numpy()
            rows["mrpe"].append((seq.action, float(np.linalg.norm(xyz - seq.pose3d[src_frame[keep], 0], axis=-1).mean()), n))
        rows["p1"].append((seq.action, float(metrics.mpjpe(pred, gt).mean()), n))
        rows["p2"].append((seq.action, float(metrics.p_mpjpe(pred, gt).mean()), n))
        rows["n_mpjpe"].append((seq.action, float(metrics.n_mpjpe(pred, gt).mean()), n))
        rows["pck"].append((seq.action, 100 * float(metrics.pck(pred, gt).mean()), n))
        rows["auc"].append((seq.action, 100 * float(metrics.auc(pred, gt).mean()), n))
        if frame_step == 1 and len(keep) == len(src_frame):
            # Per-frame differences at the rate the lifter ran, in mm per frame (only where every
            # frame has its own ground truth, as at 50 and 25 fps).
            rows["vel"].append((seq.action, metrics.velocity_error(pred, gt), n))
            rows["accel"].append((seq.action, metrics.acceleration_error(pred, gt), n))
        errors.append(np.linalg.norm(pred - gt, axis=-1)[:, 1:].ravel())
        sigmas.append(sigma[:, 1:].ravel())
    result: dict = {"source": source, "fps": fps, "frames": int(sum(r[2] for r in rows["p1"])),
                    "occlusion": occlusion, "refined": refiner is not None, "flip": flip, "note": MISSING_NOTE,
                    "hfov_guess": hfov_guess,
                    "per_action": {}, "mean": {}}
    result["per_action"], result["mean"] = metrics.per_action_results(rows)
    if errors:
        e, s = np.concatenate(errors), np.concatenate(sigmas)
        result["mean"]["uncertainty_corr"] = float(np.corrcoef(e, s)[0, 1])
        result["mean"]["uncertainty_mean"] = float(s.mean())
    if resampled:
        result["mean"]["resampled_pct"] = 100 * float(np.mean(resampled))
    return result


METRIC_NAMES = {"p1": "P1 (mm)", "p2": "P2 (mm)", "n_mpjpe": "N-MPJPE (mm)", "pck": "3DPCK@150 (%)",
                "auc": "AUC (%)", "vel": "MPJVE (mm/frame)", "accel": "Accel (mm/frame²)",
                "mrpe": "MRPE, root (mm)"}


def markdown_table(result: dict) -> str:
    """Actions as columns (the literature's layout), one row per metric, plus the mean."""
    actions = list(result["per_action"])
    occluded = f", {100 * result['occlusion']:g} % of joint-frames occluded" if result.get("occlusion") else ""
    refined = ", refined" if result.get("refined") else ""
    mirrored = ", averaged with the mirror image" if result.get("flip") else ""
    subset = f", every {result['sequence_step']}th sequence" if result.get("sequence_step", 1) > 1 else ""
    guessed = f", intrinsics guessed from a {result['hfov_guess']:g}° field of view" if result.get("hfov_guess") else ""
    lines = [f"Source: {result['source']} 2D, {result['fps']:g} fps{occluded}{refined}{mirrored}{guessed}{subset}, "
             f"{result['frames']} frames. {result['note']}", "",
             "| metric | " + " | ".join(actions) + " | mean |",
             "|---" * (len(actions) + 2) + "|"]
    for key, name in METRIC_NAMES.items():
        if key in result["mean"]:
            vals = [f"{result['per_action'][a][key]:.1f}" for a in actions]
            lines.append(f"| {name} | " + " | ".join(vals) + f" | **{result['mean'][key]:.1f}** |")
    return "\n".join(lines)


def summary_table(results: list[dict]) -> str:
    """One row per result: suite, 2D source, frame rate, P1, P2, 3DPCK."""
    lines = ["| suite | 2D input | fps | P1 (mm) | P2 (mm) | 3DPCK@150 (%) |", "|---|---|---|---|---|---|"]
    for r in results:
        m, extra = r["mean"], (f", {100 * r['occlusion']:g} % occluded" if r.get("occlusion") else "") + (
            ", refined" if r.get("refined") else "") + (
            f", {r['hfov_guess']:g}° FOV guess" if r.get("hfov_guess") else "")
        lines.append(f"| {r.get('suite', 'h36m')} | {r['source'].upper()}{extra} | {r['fps']:g} | {m['p1']:.1f} | "
                     f"{m['p2']:.1f} | {m['pck']:.1f} |")
    return "\n".join(lines)
