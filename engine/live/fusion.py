"""Fusion of the lift with MediaPipe's own 3D: one person's stream, frame by frame (causal, no delay).

MediaPipe gives every person's 3D world landmarks from the image itself, where appearance still holds
depth cues that the 2D keypoints the lifter reads have lost; their errors are partly independent of the
lifter's. Each frame, MediaPipe's landmarks are mapped to H36M-17 as the product maps them (its hips
corrected), the same left/right pairs the 2D swap repair swapped back are swapped in 3D, and the pose is
aligned to the lift (rotation, translation and scale, weighted by how sure each joint is). Each joint then
moves from the lift towards MediaPipe's by inverse-variance weights, separately along the joint's viewing
ray and across it: both monocular estimates are far less sure in depth than across the image.

Weightings (``weighting``): ``fixed``: measured variances for both; ``lifter``: the lifter's own per-joint
uncertainty for the lift; ``robust`` (the default): ``fixed``, and MediaPipe's joints that lie implausibly
far from the lift are left out (the pose aligned again without them), as is a MediaPipe pose that fits
the lift better mirrored (a front/back flip). Where MediaPipe's 3D is missing or left out, the correction fades over
:data:`FADE_S` rather than vanishing at once, so the output never jumps.
"""
from __future__ import annotations

import numpy as np

from ...models.rotations import similarity_align
from ...models.skeletons import H36M, MEDIAPIPE, mapping_weights
from .filters import OneEuroFilter

WEIGHTINGS = ("fixed", "lifter", "robust")
LEFT, RIGHT = H36M.limb_pairs.T
HIPS = [H36M.index("left_hip"), H36M.index("right_hip")]

# The error model, measured on the Pose2Sim demo (4 phones, 2 people, 100 frames at 60 fps; docs/fusion.md):
# each camera's pose, mapped to H36M-17 where it is MediaPipe's, Procrustes-aligned per frame (rotation,
# translation, scale) to the people triangulated from all four cameras, in that camera's axes; the residual's
# RMS (mm) along each joint's viewing ray and across it (per image axis), pooled over the 13 joints both
# skeletons have, 4 cameras, 2 people and 592 person-frames. Per joint they run from 50 (pelvis) to 134
# (wrists) mm along the ray, alike for both; pooled values keep the model to four numbers.
MP_RAY_MM, MP_ACROSS_MM = 89.0, 69.0  # MediaPipe's world landmarks
LIFT_RAY_MM, LIFT_ACROSS_MM = 81.0, 60.0  # the lift (``fixed``, ``robust``)
# The lift's RMS error over the lifter's own uncertainty, the same way (``lifter``): the uncertainty is
# well scaled along the ray but 2.7x too small at the hips on this video.
LIFT_RAY_PER_SIGMA, LIFT_ACROSS_PER_SIGMA = 1.03, 0.77

GATE = 3.0  # a MediaPipe joint further than this many combined standard deviations from the lift is left out
FADE_S = 0.25  # seconds for a joint's correction to fade in or out
CORRECTION_CUTOFF_HZ = 1.0  # the correction is low-passed: MediaPipe's 3D jitters from frame to frame, its bias does not
_MP_TO_H36M = mapping_weights(MEDIAPIPE.name, H36M.name, 3)


class Fusion:
    """Fuses one person's lift with MediaPipe's 3D; ``reset()`` for a new stream."""

    def __init__(self, weighting: str = "robust"):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown fusion weighting {weighting!r}: choose one of {', '.join(WEIGHTINGS)}.")
        self.weighting = weighting
        self.reset()

    def reset(self) -> None:
        j = H36M.num_joints
        self._gain = np.zeros(j)  # how much of each joint's correction is applied, faded in and out
        self._held = np.zeros((j, 3))  # each joint's last correction (mm)
        self._weight = np.zeros(j)  # MediaPipe's weight along the ray when it was last used, per joint
        self._t: float | None = None
        self._steady = OneEuroFilter(CORRECTION_CUTOFF_HZ, beta=0.0)

    def __call__(self, pose: np.ndarray, sigma: np.ndarray, mediapipe_world: np.ndarray | None,
                 rays: np.ndarray, repaired: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``pose`` (17, 3) the lift (mm, camera axes), ``sigma`` (17,) its uncertainty (mm);
        ``mediapipe_world`` (33, 3) mm or None when MediaPipe gave none; ``rays`` (17, 2) each joint's
        viewing ray as image-plane coordinates (x/z, y/z); ``repaired`` (17,) the joints the 2D swap repair
        swapped back; ``t`` seconds. Returns the fused pose and MediaPipe's weight along the ray on each
        joint (17,) (0: the lift alone)."""
        pose = np.asarray(pose, np.float64)
        used = np.zeros(len(pose), bool)
        mp = None if mediapipe_world is None else _MP_TO_H36M @ np.asarray(mediapipe_world, np.float64)
        if mp is not None and np.isfinite(mp).all() and mp.any() and np.isfinite(pose).all():
            if repaired.any():
                swapped = repaired[LEFT] & repaired[RIGHT]
                mp[LEFT[swapped]], mp[RIGHT[swapped]] = mp[RIGHT[swapped]], mp[LEFT[swapped]]
            fit = self._correction(pose, np.asarray(sigma, np.float64), mp, rays)
            if fit is not None:
                correction, used, weight = fit
                self._held = self._steady(np.where(used[:, None], correction, self._held), t)
                self._weight[used] = weight[used]
        step = 1.0 if self._t is None else min(max(t - self._t, 0.0) / FADE_S, 1.0)
        self._t = t
        self._gain = np.clip(np.where(used, self._gain + step, self._gain - step), 0.0, 1.0)
        fused = pose + self._gain[:, None] * self._held
        fused -= fused[0] - pose[0]  # the lift's root stays where it was
        return fused, self._gain * self._weight

    def _correction(self, pose: np.ndarray, sigma: np.ndarray, mp: np.ndarray, rays: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Each joint's move towards MediaPipe's aligned pose, the joints used, and MediaPipe's weight
        along the ray; None when MediaPipe's pose is left out altogether."""
        r = np.ones((len(rays), 3))
        r[:, :2] = rays
        r /= np.sqrt((r * r).sum(1))[:, None]
        if self.weighting == "lifter":
            l_ray, l_across = (LIFT_RAY_PER_SIGMA * sigma) ** 2, (LIFT_ACROSS_PER_SIGMA * sigma) ** 2
        else:
            l_ray, l_across = np.full(len(pose), LIFT_RAY_MM ** 2), np.full(len(pose), LIFT_ACROSS_MM ** 2)
        v_ray, v_across = l_ray + MP_RAY_MM ** 2, l_across + MP_ACROSS_MM ** 2  # of the difference
        w = 1.0 / (v_ray + 2 * v_across)
        aligned, mirrored = similarity_align(mp, pose, w)
        keep = np.ones(len(pose), bool)
        if self.weighting == "robust":
            if mirrored:
                return None
            for _ in range(2):
                delta = aligned - pose
                along = (delta * r).sum(1)
                gated = along ** 2 / v_ray + ((delta * delta).sum(1) - along ** 2) / (2 * v_across) <= GATE ** 2
                if gated.sum() < 4:
                    return None
                if (gated == keep).all():  # the same joints would give the same alignment
                    break
                keep = gated
                aligned, _ = similarity_align(mp, pose, np.where(keep, w, 0.0))
        delta = aligned - pose
        # The hips move together: the pelvis keeps the lift's width. MediaPipe's hips, mapped, are still
        # narrower (the fused pelvis was 11 % narrower than the lift's on the demo walker), which put
        # OpenSim's IK knee 0.5° further from the .mot and cost 0.4 mm of P2 on Pose2Sim.
        delta[HIPS] = delta[HIPS].mean(0)
        along = (delta * r).sum(1)
        k_ray, k_across = l_ray / v_ray, l_across / v_across
        return k_across[:, None] * delta + ((k_ray - k_across) * along)[:, None] * r, keep, k_ray
