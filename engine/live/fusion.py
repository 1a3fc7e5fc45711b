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

from typing import NamedTuple

import numpy as np

from ...models.rotations import similarity_align
from ...models.skeletons import H36M, MEDIAPIPE, mapping_weights
from .filters import OneEuroFilter

WEIGHTINGS = ("fixed", "lifter", "robust")
LEFT, RIGHT = H36M.limb_pairs.T
LEFT_HIP, RIGHT_HIP = H36M.index("left_hip"), H36M.index("right_hip")

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


class _Weights(NamedTuple):
    """Per joint (17,), from the lift's variances along the ray and across it."""
    align: np.ndarray  # its weight in aligning MediaPipe's pose to the lift
    gate_ray: np.ndarray  # this times the squared distance along the ray, plus gate_all times the squared
    gate_all: np.ndarray  # distance in all: the squared Mahalanobis distance of MediaPipe's joint from the lift's
    across: np.ndarray  # (17, 1) the share of the difference it moves across the ray
    extra_ray: np.ndarray  # and the further share along it
    ray: np.ndarray  # the share along the ray: MediaPipe's weight


def _weights(lift_ray: np.ndarray, lift_across: np.ndarray) -> _Weights:
    """The fusion's weights from the lift's variances (17,) along the ray and across it (mm²)."""
    v_ray, v_across = lift_ray + MP_RAY_MM ** 2, lift_across + MP_ACROSS_MM ** 2  # of the difference
    k_ray, k_across = lift_ray / v_ray, lift_across / v_across
    return _Weights(1.0 / (v_ray + 2 * v_across), 1.0 / v_ray - 0.5 / v_across, 0.5 / v_across,
                    k_across[:, None], k_ray - k_across, k_ray)


_FIXED = _weights(np.full(H36M.num_joints, LIFT_RAY_MM ** 2), np.full(H36M.num_joints, LIFT_ACROSS_MM ** 2))
_ONES3 = np.ones(3)
_ALL = np.ones(H36M.num_joints, bool)  # every joint used: the one array that says so, checked by identity
_NONE = ~_ALL
for _constant in (*_FIXED, _ONES3, _ALL, _NONE):
    _constant.flags.writeable = False


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
        used = _NONE
        mp = None if mediapipe_world is None else _MP_TO_H36M @ np.asarray(mediapipe_world, np.float64)
        # a sum is finite only where every term is: one check for both poses
        if mp is not None and mp.any() and np.isfinite(mp.sum() + pose.sum()):
            if repaired.any():
                swapped = repaired[LEFT] & repaired[RIGHT]
                mp[LEFT[swapped]], mp[RIGHT[swapped]] = mp[RIGHT[swapped]], mp[LEFT[swapped]]
            fit = self._correction(pose, sigma, mp, rays)
            if fit is not None:
                correction, used, weight = fit
                if used is not _ALL:  # the joints left out keep their last correction and weight
                    correction = np.where(used[:, None], correction, self._held)
                    weight = np.where(used, weight, self._weight)
                self._held, self._weight = self._steady(correction, t), weight
        step = 1.0 if self._t is None else min(max(t - self._t, 0.0) / FADE_S, 1.0)
        self._t = t
        self._gain = (self._gain + np.where(used, step, -step)).clip(0.0, 1.0)
        move = self._gain[:, None] * self._held
        return pose + (move - move[0]), self._gain * self._weight  # the lift's root stays where it was

    def _correction(self, pose: np.ndarray, sigma: np.ndarray, mp: np.ndarray, rays: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Each joint's move towards MediaPipe's aligned pose, the joints used, and MediaPipe's weight
        along the ray; None when MediaPipe's pose is left out altogether."""
        r = np.empty((len(rays), 3))
        r[:, :2], r[:, 2] = rays, 1.0
        r /= np.sqrt(_dots(r, r))[:, None]
        if self.weighting == "lifter":
            sigma = np.asarray(sigma, np.float64)
            k = _weights((LIFT_RAY_PER_SIGMA * sigma) ** 2, (LIFT_ACROSS_PER_SIGMA * sigma) ** 2)
        else:
            k = _FIXED
        aligned, mirrored = similarity_align(mp, pose, k.align)
        delta, keep = aligned - pose, _ALL
        if self.weighting == "robust":
            if mirrored:
                return None
            for _ in range(2):
                along = _dots(delta, r)
                gated = k.gate_ray * along * along + k.gate_all * _dots(delta, delta) <= GATE ** 2
                if (gated == keep).all():  # the same joints would give the same alignment
                    break
                if gated.sum() < 4:
                    return None
                keep = gated
                aligned, _ = similarity_align(mp, pose, np.where(keep, k.align, 0.0))
                delta = aligned - pose
        # The hips move together: the pelvis keeps the lift's width. MediaPipe's hips, mapped, are still
        # narrower (the fused pelvis was 11 % narrower than the lift's on the demo walker), which put
        # OpenSim's IK knee 0.5° further from the .mot and cost 0.4 mm of P2 on Pose2Sim.
        delta[LEFT_HIP] = delta[RIGHT_HIP] = 0.5 * (delta[LEFT_HIP] + delta[RIGHT_HIP])
        return k.across * delta + (k.extra_ray * _dots(delta, r))[:, None] * r, keep, k.ray


def _dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row dot products of (17, 3) arrays: a matrix product, cheaper per call than ``sum(1)``."""
    return (a * b) @ _ONES3
