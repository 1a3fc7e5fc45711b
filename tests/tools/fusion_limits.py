"""What docs/fusion.md says limits the fused pose on a multi-camera recording, measured:
python3 tests/tools/fusion_limits.py ../shared/data/pose2sim

Each camera alone through the pipeline with --fusion, scored as `poselift eval --multiview` scores it
(P2 on the shared joints against the reference low-passed at 6 Hz), and then two corrections that were
tried and not taken:
- each joint pulled part of the way onto its own 2D viewing ray, at its depth (the pipeline's camera,
  placed where the pipeline placed the person);
- one constant offset per joint in the body's own axes (hips across, trunk up), the mean of the other
  three cameras' residuals (or the other person's, or the other person's in the other cameras), left and
  right mirrored alike.
What any weighting of the two could reach: the lift alone blended with MediaPipe's 3D (aligned to it
per frame) by one weight, the best over all views and the best for each camera and person with hindsight;
and, for every joint in every frame, whichever of the two lies nearer the reference (with hindsight).
And what the 2D costs: the lifter run offline over the whole view (causally, as the stream runs it) on
MediaPipe's 2D of that view, on it without the joints that are far off the reference's (with hindsight),
on the reference's own 2D (its projection into the view through the calibration), and on the
reference's 2D plus one part of MediaPipe's 2D error: its mean over the take, the rest of it, its
half-second running mean (what is slower than 2 Hz) and the rest of that; gaps filled in time for the
input only.
"""
import dataclasses
import sys

import numpy as np
from scipy.ndimage import uniform_filter1d

from poselift.calibration import Camera
from poselift.calibration.rig import load_rig
from poselift.engine.live.factory import DEFAULT_WEIGHTS, PipelineOptions
from poselift.engine.offline.multiview import (
    REFERENCE_CUTOFF_HZ, low_passed, on_reference, reference_of, run_views)
from poselift.engine.offline.multiview_scores import SHARED, mediapipe_to_h36m, p2_mm
from poselift.models.checkpoint import load_weights
from poselift.models.evaluate import predict_sequence
from poselift.models.lifter import window_2d
from poselift.models.rotations import similarity_align
from poselift.models.skeletons import H36M

PULLS = (0.25, 0.5, 1.0)
MISSES = (0.04, 0.08, 0.15)  # MediaPipe's 2D joints this far from the reference's, per body size, left out
BLENDS = np.linspace(0.0, 1.0, 11)  # MediaPipe's weight in a plain blend with the lift
SLOW_S = 0.5  # MediaPipe's 2D error averaged over this long is its slow part
SCORED = np.isin(np.arange(H36M.num_joints), SHARED).astype(float)  # the alignment's weights: the shared joints


def body_axes(pose: np.ndarray) -> np.ndarray:
    """(N, 3, 3) columns: right (left hip to right hip), up (pelvis to thorax, square to it), forward."""
    right = pose[:, H36M.index("right_hip")] - pose[:, H36M.index("left_hip")]
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = pose[:, H36M.index("thorax")] - pose[:, 0]
    up -= (up * right).sum(-1, keepdims=True) * right
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    return np.stack([right, up, np.cross(right, up)], -1)


def mirrored(offsets: np.ndarray) -> np.ndarray:
    """Per-joint offsets in body axes (17, 3), averaged with their left/right mirror image."""
    twin = offsets[H36M.flip_index] * [-1.0, 1.0, 1.0]
    return 0.5 * (offsets + twin)


def filled(points: np.ndarray) -> np.ndarray:
    """``points`` (F, ...) with each coordinate's gaps filled linearly in time (held at the ends)."""
    flat = points.reshape(len(points), -1).copy()
    t = np.arange(len(points))
    for k in range(flat.shape[1]):
        seen = np.isfinite(flat[:, k])
        if seen.sum() >= 2:
            flat[:, k] = np.interp(t, t[seen], flat[seen, k])
    return flat.reshape(points.shape)


def seen(clip) -> np.ndarray:
    """The clip's 2D (F, 17, 2) px, NaN where the person was not seen (the clip holds zeros there)."""
    return np.where(np.isfinite(clip.pose3d).all((-1, -2))[:, None, None], clip.keypoints, np.nan)


def lifted_from(model, px: np.ndarray, camera: Camera, trusted: np.ndarray | None = None) -> np.ndarray:
    """The lifter's causal 3D (F, 17, 3) for a view's whole 2D (F, 17, 2) px, the ``trusted`` joints
    (F, 17) at full confidence and the others at none (default: every joint trusted)."""
    kp = camera.normalize(filled(px))
    return predict_sequence(model, window_2d(kp, np.ones(kp.shape[:2]) if trusted is None else trusted))[0]


def error_parts(mp_2d: np.ndarray, ref_2d: np.ndarray, on: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """The reference's 2D plus each part of MediaPipe's 2D error (its mean over the frames ``on``, the
    rest, its running mean over ``frames``, the rest of that)."""
    error = mp_2d - ref_2d
    steady, slow = error[on].mean(0), uniform_filter1d(error, frames, axis=0, mode="nearest")
    return {"its mean over the take": ref_2d + steady, "the rest": ref_2d + error - steady,
            "its slow part": ref_2d + slow, "its fast part": ref_2d + error - slow}


def blend_scores(lift: np.ndarray, aligned: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """P2 of the lift blended with MediaPipe's 3D (``aligned`` to it per frame) at each of ``BLENDS``."""
    return np.array([np.nanmean(p2_mm(lift + w * (aligned - lift), truth)) for w in BLENDS])


def nearer_of_two(lift: np.ndarray, aligned: np.ndarray, truth: np.ndarray) -> float:
    """P2 of the pose made of, for each joint and frame, the lift's joint or MediaPipe's (``aligned`` to
    the lift per frame), whichever is nearer the reference (aligned to the lift too)."""
    ref = similarity_align(np.nan_to_num(truth), lift, SCORED)[0]
    nearer = np.linalg.norm(aligned - ref, axis=-1) < np.linalg.norm(lift - ref, axis=-1)
    return float(np.nanmean(p2_mm(np.where(nearer[..., None], aligned, lift), truth)))


def main(root: str) -> None:
    model = load_weights(DEFAULT_WEIGHTS)
    rig = load_rig(root)
    views = run_views(rig, dataclasses.replace(PipelineOptions(fusion=True), people=2), progress=False)
    ref = reference_of(rig, views)
    ref_h36m = mediapipe_to_h36m(low_passed(ref.points, views[0].clip.fps, REFERENCE_CUTOFF_HZ))
    rows = []  # (camera, person, pose name, poses (N, 17, 3), reference (N, 17, 3))
    blends = []  # per camera and person: P2 at each of BLENDS
    nearer = []  # per camera and person: P2 of the nearer of the two per joint and frame
    for v, view in enumerate(views):
        ref_cam, _, under, assigned = on_reference(view, ref_h36m)
        used = Camera.from_dict(view.clip.meta["camera"])  # the pipeline's guess, not the calibration
        for p, c in enumerate(assigned):
            if c is None:
                continue
            clip = view.people[c]
            on = np.flatnonzero((under[c] == p) & np.isfinite(ref_cam[:, p][:, SHARED]).all((-1, -2)))
            placed = clip.scale[on, None, None] * clip.pose3d[on] + clip.trajectory[on, None]
            rays = np.concatenate([used.rays(clip.keypoints[on]), np.ones((len(on), 17, 1))], -1)
            on_rays = rays * placed[..., 2:]
            poses = {"lift alone": clip.lifted[on], "fused": clip.pose3d[on],
                     "MediaPipe": mediapipe_to_h36m(clip.mediapipe_world[on]),
                     "the lifter offline, MediaPipe's 2D": lifted_from(model, seen(clip), used)[on],
                     "the lifter offline, the reference's 2D": lifted_from(
                         model, view.camera.project(filled(ref_cam[:, p])), view.camera)[on]}
            poses.update({f"fused, pulled {w:g} onto its rays": (1 - w) * placed + w * on_rays for w in PULLS})
            ref_2d = filled(view.camera.project(filled(ref_cam[:, p])))
            size = np.median(np.linalg.norm(ref_2d.max(1) - ref_2d.min(1), axis=-1))  # the box's diagonal, px
            miss = np.linalg.norm(filled(seen(clip)) - ref_2d, axis=-1) / size
            poses.update({f"the lifter offline, MediaPipe's 2D without its joints {m:g} of the body's size off":
                          lifted_from(model, seen(clip), used, miss < m)[on] for m in MISSES})
            poses.update({f"the lifter offline, the reference's 2D plus MediaPipe's 2D error, {part}":
                          lifted_from(model, px, view.camera)[on]
                          for part, px in error_parts(filled(seen(clip)), ref_2d, on,
                                                      round(SLOW_S * view.clip.fps)).items()})
            rows += [(v, p, name, pose, ref_cam[on, p]) for name, pose in poses.items()]
            aligned = similarity_align(poses["MediaPipe"], poses["lift alone"], SCORED)[0]
            blends.append(blend_scores(poses["lift alone"], aligned, ref_cam[on, p]))
            nearer.append(nearer_of_two(poses["lift alone"], aligned, ref_cam[on, p]))
    for name in dict.fromkeys(r[2] for r in rows):
        print(f"{name}: P2 {np.mean([np.nanmean(p2_mm(pose, truth)) for *_, n, pose, truth in rows if n == name]):.1f} mm")
    blends = np.array(blends)
    print("the lift blended with MediaPipe's 3D, one weight for all: "
          + ", ".join(f"{w:.1f}: {b:.1f}" for w, b in zip(BLENDS, blends.mean(0))) + " mm")
    print(f"the best weight for each camera and person, with hindsight ({', '.join(f'{w:.1f}' for w in BLENDS[blends.argmin(1)])}): "
          f"P2 {blends.min(1).mean():.1f} mm")
    print(f"for each joint and frame, the nearer of the lift and MediaPipe (with hindsight): P2 {np.mean(nearer):.1f} mm")
    left_out = {"the other cameras'": lambda r, v, p: r[0] != v, "the other person's": lambda r, v, p: r[1] != p,
                "the other person's in the other cameras": lambda r, v, p: r[0] != v and r[1] != p}
    for name in ("lift alone", "fused"):
        mine = [r for r in rows if r[2] == name]
        aligned = [similarity_align(pose, np.nan_to_num(truth), SCORED)[0] for *_, pose, truth in mine]
        residual = [np.einsum("njk,nkc->njc", r[-1] - a, body_axes(a)) for a, r in zip(aligned, mine)]
        for whose, keep in left_out.items():
            scores = []
            for (v, p, *_, truth), a in zip(mine, aligned):
                others = np.concatenate([res for res, r in zip(residual, mine) if keep(r, v, p)])
                offsets = mirrored(np.nanmean(others, axis=0))
                scores.append(np.nanmean(p2_mm(a + np.einsum("nkc,jc->njk", body_axes(a), offsets), truth)))
            print(f"{name}, with {whose} mean offsets in body axes: P2 {np.mean(scores):.1f} mm")


if __name__ == "__main__":
    main(sys.argv[1])
