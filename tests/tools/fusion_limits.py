"""What docs/fusion.md says limits the fused pose on a multi-camera recording, measured:
python3 tests/tools/fusion_limits.py ../shared/data/pose2sim

Each camera alone through the pipeline with --fusion, scored as `poselift eval --multiview` scores it
(P2 on the shared joints against the reference low-passed at 6 Hz), and then two corrections that were
tried and not taken:
- each joint pulled part of the way onto its own 2D viewing ray, at its depth (the pipeline's camera,
  placed where the pipeline placed the person);
- one constant offset per joint in the body's own axes (hips across, trunk up), the mean of the other
  three cameras' residuals, left and right mirrored alike.
"""
import dataclasses
import sys

import numpy as np

from poselift.calibration import Camera
from poselift.calibration.rig import load_rig
from poselift.engine.live.factory import PipelineOptions
from poselift.engine.offline.multiview import (
    REFERENCE_CUTOFF_HZ, low_passed, on_reference, reference_of, run_views)
from poselift.engine.offline.multiview_scores import SHARED, mediapipe_to_h36m, p2_mm
from poselift.models.rotations import similarity_align
from poselift.models.skeletons import H36M

PULLS = (0.25, 0.5, 1.0)
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


def main(root: str) -> None:
    rig = load_rig(root)
    views = run_views(rig, dataclasses.replace(PipelineOptions(fusion=True), people=2), progress=False)
    ref = reference_of(rig, views)
    ref_h36m = mediapipe_to_h36m(low_passed(ref.points, views[0].clip.fps, REFERENCE_CUTOFF_HZ))
    rows = []  # (camera, pose name, poses (N, 17, 3), reference (N, 17, 3))
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
                     "MediaPipe": mediapipe_to_h36m(clip.mediapipe_world[on])}
            poses.update({f"fused, pulled {w:g} onto its rays": (1 - w) * placed + w * on_rays for w in PULLS})
            rows += [(v, name, pose, ref_cam[on, p]) for name, pose in poses.items()]
    for name in dict.fromkeys(r[1] for r in rows):
        print(f"{name}: P2 {np.mean([np.nanmean(p2_mm(pose, truth)) for _, n, pose, truth in rows if n == name]):.1f} mm")
    for name in ("lift alone", "fused"):
        mine = [r for r in rows if r[1] == name]
        aligned = [similarity_align(pose, np.nan_to_num(truth), SCORED)[0] for _, _, pose, truth in mine]
        residual = [np.einsum("njk,nkc->njc", truth - a, body_axes(a)) for a, (_, _, _, truth) in zip(aligned, mine)]
        scores = []
        for (v, _, _, truth), a in zip(mine, aligned):
            others = np.concatenate([res for res, r in zip(residual, mine) if r[0] != v])
            offsets = mirrored(np.nanmean(others, axis=0))
            scores.append(np.nanmean(p2_mm(a + np.einsum("nkc,jc->njk", body_axes(a), offsets), truth)))
        print(f"{name}, with the other cameras' mean offsets in body axes: P2 {np.mean(scores):.1f} mm")


if __name__ == "__main__":
    main(sys.argv[1])
