"""The lifted body in the world: metric scale from the subject's height, the camera-frame root
trajectory, the floor under the feet, foot contacts and foot skating (H36M-17 poses).

Scale: the lifter's root-relative pose has the size of the bodies it was trained on; a subject of
height H is that pose times ``H / stature(pose)``, with the stature estimated from the pose's own
bones (:func:`stature_mm`). The trajectory is then the closed-form translation that reprojects the
scaled pose onto the 2D (``calibration.trajectory``), filtered causally. The floor comes from where
the feet stop: the lower ankle of each frame in which it hardly moves (``calibration.floor``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from ..calibration.floor import CAMERA_UP, LEVEL_MIN_SHARE, Ground, fit_up, lowest_level
from ..calibration.trajectory import TrajectoryFilter, filter_trajectory, root_translation
from .skeletons import H36M

# Standing height per (mean leg + pelvis-to-thorax + thorax-to-head-top): the head top stands 1.045x
# that chain above the ankle joints in Human3.6M's upright frames, and the ankle joint stands 3.9 %
# of the stature above the sole (Winter, Biomechanics and Motor Control of Human Movement).
ANKLE_HEIGHT_PER_STATURE = 0.039
STATURE_PER_CHAIN = 1.045 / (1 - ANKLE_HEIGHT_PER_STATURE)
ANKLES = (H36M.index("left_ankle"), H36M.index("right_ankle"))  # contacts are stored in this order
FOOT_NAMES = ("left", "right")
# A foot is planted while its ankle is within this fraction of the stature above its standing height
# and moves slower than this many statures per second (walking swings the foot at ~2 statures/s).
CONTACT_HEIGHT_PER_STATURE = 0.06
CONTACT_SPEED_PER_STATURE = 0.45
# Resting feet within this fraction of the stature of one plane stand on the same level: a monocular
# body's place in the camera frame is uncertain by a few per cent of its distance, so steps and
# kerbs merge with the floor; a roof, a stage or a table top does not.
LEVEL_BAND_PER_STATURE = 0.2
# People standing on one floor imply camera heights within this ratio of each other (statures from
# about 1.3 to 1.8 m): a person whose feet imply more stands on another level, a stage or a roof.
FLOOR_SHARED_RATIO = 1.4
# How far a person's stature may be from the prior, as a log ratio: taller, as adults spread about their
# mean (5 %); shorter, much further (children, and adults of the shorter sex: 15 %)
STATURE_LOG_SPREAD_TALLER = 0.05
STATURE_LOG_SPREAD_SHORTER = 0.15
CONTACT_LOG_SPREAD = 0.25  # one resting foot's depth, as a share of its distance, spreads this much
STRAIGHT_DEG = 20.0  # a body standing straight: trunk, thigh and shank within this of one line
STRAIGHT_MIN_SHARE = 0.1  # the frames standing straight that make the gravity prior, at least this share
STANDING_S = 1.0  # what a person stands on: the lowest of their resting ankles over this long
CONTACT_SPAN = 2  # frames the speed is measured over (a monocular ankle jitters from frame to frame)
# Nobody's root moves faster than this (m/s) from one frame to the next: a sprint is ~10 m/s.
MAX_ROOT_SPEED = 10.0
# A run of frames this short (s) cut off from a longer one by a faster move is a misplacement: MediaPipe
# garbles a blurred body for a few frames (a backflip against the sun) and the root fit follows it.
SPIKE_S = 0.3
# The foot lock pins a planted ankle where it touched down, moving the whole body; the pin itself
# follows the unlocked ankle with this time constant (s), so the body never drifts from the image.
LOCK_FOLLOW_S = 3.0


def _length(pose: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(pose[..., a, :] - pose[..., b, :], axis=-1)


def stature_mm(pose: np.ndarray) -> np.ndarray:
    """Standing height (...) implied by the bones of H36M-17 poses (..., 17, 3) in mm."""
    h = H36M.index
    leg = 0.5 * sum(_length(pose, h(f"{s}_hip"), h(f"{s}_knee")) + _length(pose, h(f"{s}_knee"), h(f"{s}_ankle"))
                    for s in ("left", "right"))
    chain = leg + _length(pose, h("thorax"), h("pelvis")) + _length(pose, h("head_top"), h("thorax"))
    return STATURE_PER_CHAIN * chain


def causal_scale(pose: np.ndarray, height_m: float) -> np.ndarray:
    """Per frame (N,), the factor that gives poses (N, 17, 3) a stature of ``height_m``: the height
    over the mean stature of the frames so far (gaps skipped), as a live stream knows it."""
    s = stature_mm(pose)
    seen = np.isfinite(s)
    total, count = np.cumsum(np.where(seen, s, 0.0)), np.cumsum(seen)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 1000.0 * height_m * count / total, np.nan)


def camera_trajectory(pose: np.ndarray, rays: np.ndarray, confidence: np.ndarray, times: np.ndarray,
                      height_m: float, smooth: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Scale (N,) and camera-frame root trajectory (N, 3) mm of a root-relative pose sequence
    (N, 17, 3) seen along ``rays`` (N, 17, 2) with ``confidence`` (N, 17); causal, frame by frame."""
    scale = causal_scale(pose, height_m)
    root = root_translation(scale[:, None, None] * pose, rays, confidence)
    return scale, (filter_trajectory(root, times, TrajectoryFilter()) if smooth else root)


def _speed(points: np.ndarray, times: np.ndarray, span: int = 1) -> np.ndarray:
    """Causal speed (N, ...) of points (N, ..., 3) over the last ``span`` frames (fewer at the start;
    the first frame gets its successor's)."""
    n = len(points)
    if n < 2:
        return np.zeros(points.shape[:-1])
    now = np.arange(n)
    back = np.maximum(now - span, 0)
    now[0] = 1
    dt = (times[now] - times[back]).reshape((-1,) + (1,) * (points.ndim - 2))
    return np.linalg.norm(points[now] - points[back], axis=-1) / dt


def contact_candidates(ankles_cam: np.ndarray, times: np.ndarray, up: np.ndarray, stature: float) -> np.ndarray:
    """Points (M, 3) where a foot rested: per frame the lower ankle (along ``up``) when it moved
    slower than the contact speed. ``ankles_cam`` (N, 2, 3) mm, camera axes, metric."""
    height = ankles_cam @ up
    lower = np.argmin(np.where(np.isfinite(height), height, np.inf), axis=1)
    speed = _speed(ankles_cam, times)
    rows = np.arange(len(ankles_cam))
    slow = speed[rows, lower] < CONTACT_SPEED_PER_STATURE * stature
    pts = ankles_cam[rows, lower][slow]
    return pts[np.isfinite(pts).all(-1)]


@dataclass(frozen=True)
class FloorFit:
    """The floor, and per track the factor that puts that person's feet on it (1 for a person on
    another level or without a resting foot yet): a monocular body's size and distance are one
    unknown, fixed by the subject-height prior, and people are not all that height."""
    ground: Ground
    scales: np.ndarray  # (tracks,)
    on_floor: np.ndarray  # (tracks,) bool: the track's feet rest on this floor


def fit_ground(tracks: Sequence[tuple[np.ndarray, np.ndarray]], prior_up: np.ndarray, stature: float,
               fixed_up: bool = False) -> FloorFit | None:
    """The floor under the feet of everyone seen: each track is one person's ankles (N, 2, 3) mm and
    times (N,), at the prior stature's scale. Each track's resting lower ankles on its lowest level
    (``lowest_level``) give the camera height that person alone implies; the tracks on the lowest
    shared floor (:func:`_on_one_floor`) share one floor at the height most likely given theirs
    (:func:`shared_log_height`), and each is scaled onto it. The
    floor's normal is fitted to all of their feet so scaled (regularised towards ``prior_up``; kept
    as given with ``fixed_up``), and the levels are found again along it. None when no foot has
    rested yet."""
    up = np.asarray(prior_up, np.float64)
    for _ in range(0 if fixed_up else 2):
        levels = _floor_levels(tracks, up, stature)
        if levels is None:
            return None
        pts, scales, _, floor = levels
        up = fit_up(np.concatenate([k * p for k, p, on in zip(scales, pts, floor) if on]), prior_up)
    levels = _floor_levels(tracks, up, stature)
    if levels is None:
        return None
    _, scales, h, floor = levels
    return FloorFit(Ground(tuple(float(v) for v in up), h), scales, floor)


def _floor_levels(tracks: Sequence[tuple[np.ndarray, np.ndarray]], up: np.ndarray,
                  stature: float) -> tuple[list[np.ndarray], np.ndarray, float, np.ndarray] | None:
    """Along ``up``: each track's resting feet (M, 3), its scale onto the floor, the camera's height
    above the floor (mm), and which tracks stand on it; None without a resting foot."""
    pts = [contact_candidates(a, t, up, stature) for a, t in tracks]
    pts = [p[lowest_level(p, up, LEVEL_BAND_PER_STATURE * stature)] for p in pts]
    heights = np.array([ANKLE_HEIGHT_PER_STATURE * stature - np.median(p @ up) if len(p) else np.nan for p in pts])
    floor = _on_one_floor(heights, np.array([len(p) for p in pts]))
    if not floor.any():
        return None
    shared, n = heights[floor], np.array([len(p) for p in pts])[floor]
    h = float(np.exp(shared_log_height(np.log(shared), n))) if len(shared) > 1 else float(shared[0])
    scales = np.where(floor, h / np.where(floor, heights, 1.0), 1.0)
    return pts, scales, h, floor


def shared_log_height(log_heights: np.ndarray, contacts: np.ndarray) -> float:
    """The log camera height most likely given each person's (``log_heights``, each at the prior
    stature; ``contacts``: how many resting feet it rests on). A person scaled onto a floor at log
    height ``x`` has the prior stature times ``exp(x - log_height)``: each is weighed by the spread of
    people's statures on that side of the prior (a person far shorter is common, far taller rare) and
    their resting feet's own scatter (correlated from frame to frame, so counted as if fewer). With
    an adult and a child on one floor the adult has about the prior stature; with two adults, each is
    a little off it."""
    feet = CONTACT_LOG_SPREAD**2 / contacts

    def cost(x: float) -> float:
        spread = np.where(x > log_heights, STATURE_LOG_SPREAD_TALLER, STATURE_LOG_SPREAD_SHORTER)
        return float(np.sum((x - log_heights) ** 2 / (spread**2 + feet)))

    return float(minimize_scalar(cost, bounds=(log_heights.min(), log_heights.max()), method="bounded",
                                 options={"xatol": 1e-6}).x)


def _on_one_floor(heights: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Which tracks stand on the floor, given the camera height (mm) each implies and how many resting
    feet it rests on: the lowest level (the greatest height) whose tracks imply heights within
    ``FLOOR_SHARED_RATIO`` of it and hold at least ``LEVEL_MIN_SHARE`` of the resting feet, else the
    best supported. A floor above the camera (a roof seen from the street) is shared with no one."""
    seen = np.isfinite(heights) & (support > 0)
    best, best_support = np.zeros(len(heights), bool), 0
    for anchor in np.flatnonzero(seen)[np.argsort(-heights[seen])]:
        h = heights[anchor]
        group = seen & (heights <= h) & (heights >= h / FLOOR_SHARED_RATIO) if h > 0 else np.arange(len(heights)) == anchor
        if support[group].sum() >= LEVEL_MIN_SHARE * support[seen].sum():
            return group
        if support[group].sum() > best_support:
            best, best_support = group, support[group].sum()
    return best


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-9)


def body_up(pose: np.ndarray) -> np.ndarray:
    """The prior for gravity from poses (N, 17, 3), camera axes: the mean pelvis-to-thorax direction
    of the frames in which the person stands straight (trunk, thighs and shanks within
    ``STRAIGHT_DEG`` of one line: a standing body is plumb), or of every frame when too few are (people
    sit, crouch and bend, but stand and walk nearly upright on average)."""
    h = H36M.index
    seen = np.isfinite(pose).all((-1, -2))
    pose = pose[seen]
    if not len(pose):
        return CAMERA_UP.copy()
    trunk = _unit_rows(pose[:, h("thorax")] - pose[:, h("pelvis")])
    straight = np.ones(len(pose), bool)
    line = np.cos(np.radians(STRAIGHT_DEG))
    for side in ("left", "right"):
        thigh = _unit_rows(pose[:, h(f"{side}_hip")] - pose[:, h(f"{side}_knee")])
        shank = _unit_rows(pose[:, h(f"{side}_knee")] - pose[:, h(f"{side}_ankle")])
        straight &= ((trunk * thigh).sum(-1) > line) & ((thigh * shank).sum(-1) > line)
    use = trunk[straight] if straight.sum() >= STRAIGHT_MIN_SHARE * len(trunk) else trunk
    v = use.mean(0)
    return v / np.linalg.norm(v)


def foot_contacts(ankles_world: np.ndarray, times: np.ndarray, stature: float) -> np.ndarray:
    """Per frame and foot (left, right) whether it is planted (N, 2): its ankle near the floor
    (world Y up, floor at 0, mm) and nearly still."""
    rest = ANKLE_HEIGHT_PER_STATURE * stature
    low = ankles_world[..., 1] < rest + CONTACT_HEIGHT_PER_STATURE * stature
    slow = _speed(ankles_world, times, CONTACT_SPAN) < CONTACT_SPEED_PER_STATURE * stature
    return low & slow & np.isfinite(ankles_world).all(-1)


def contact_runs(contacts: np.ndarray) -> list[tuple[int, int, int]]:
    """(foot, first frame, last frame) of every run of planted frames, per foot."""
    runs = []
    for foot in range(contacts.shape[1]):
        c = np.r_[False, contacts[:, foot], False].astype(int)
        starts, ends = np.flatnonzero(np.diff(c) == 1), np.flatnonzero(np.diff(c) == -1) - 1
        runs += [(foot, int(s), int(e)) for s, e in zip(starts, ends)]
    return sorted(runs, key=lambda r: r[1])


def placement_spikes(root_mm: np.ndarray, times: np.ndarray, max_speed: float = MAX_ROOT_SPEED,
                     max_run_s: float = SPIKE_S) -> np.ndarray:
    """Frames (N,) bool of a camera-frame root trajectory (N, 3) mm (NaN where unseen) at ``times`` (N,)
    that are misplaced: the seen frames split into runs at gaps and at moves faster than ``max_speed``,
    and a run shorter than ``max_run_s`` that such a move cuts off from a longer run is a spike."""
    seen = np.flatnonzero(np.isfinite(root_mm).all(-1))
    spikes = np.zeros(len(root_mm), bool)
    if len(seen) < 2:
        return spikes
    speed = np.linalg.norm(np.diff(root_mm[seen], axis=0), axis=-1) / 1000.0 / np.diff(times[seen])
    too_fast = speed > max_speed
    cut = too_fast | (np.diff(seen) > 1)  # a run ends after seen[i] where cut[i]
    runs = np.split(np.arange(len(seen)), np.flatnonzero(cut) + 1)
    span = [times[seen[r[-1]]] - times[seen[r[0]]] for r in runs]
    for k, run in enumerate(runs):
        if span[k] >= max_run_s:
            continue
        before = k > 0 and too_fast[run[0] - 1] and span[k - 1] > span[k]
        after = k + 1 < len(runs) and too_fast[run[-1]] and span[k + 1] > span[k]
        if before or after:
            spikes[seen[run]] = True
    return spikes


def foot_skating(ankles_world: np.ndarray, contacts: np.ndarray, min_frames: int = 3) -> np.ndarray:
    """Per step (a run of at least ``min_frames`` planted frames), how far (mm) the planted ankle
    slides along the floor: its largest horizontal distance from where it touched down."""
    out = []
    for foot, s, e in contact_runs(contacts):
        if e - s + 1 >= min_frames:
            xz = ankles_world[s:e + 1, foot][:, [0, 2]]
            out.append(float(np.linalg.norm(xz - xz[0], axis=-1).max()))
    return np.array(out)


class StandingLevel:
    """The height (mm, world Y) of what one person stands on, frame by frame: the floor (0) unless
    their resting ankles have stood a level's band or more above it over the last ``STANDING_S`` (a
    roof, a stage, a plyometric box), so that their feet count as planted there too. Held while they
    are in the air."""

    def __init__(self, stature: float):
        self.stature = stature
        self.reset()

    def reset(self) -> None:
        self.level = 0.0
        self._rests: deque[tuple[float, float]] = deque()  # (time, resting lower ankle's height)
        self._last: tuple[np.ndarray, float] | None = None

    def __call__(self, ankles_world: np.ndarray, t: float) -> float:
        """``ankles_world`` (2, 3) mm (left, right) as placed on the floor."""
        if self._last is not None and t > self._last[1]:
            foot = int(np.nanargmin(ankles_world[:, 1])) if np.isfinite(ankles_world[:, 1]).any() else 0
            speed = np.linalg.norm(ankles_world[foot] - self._last[0][foot]) / (t - self._last[1])
            if speed < CONTACT_SPEED_PER_STATURE * self.stature:
                self._rests.append((t, float(ankles_world[foot, 1])))
        self._last = (np.array(ankles_world, np.float64), t)
        while self._rests and self._rests[0][0] < t - STANDING_S:
            self._rests.popleft()
        if self._rests:
            raised = min(y for _, y in self._rests) - ANKLE_HEIGHT_PER_STATURE * self.stature
            self.level = raised if raised > LEVEL_BAND_PER_STATURE * self.stature else 0.0
        return self.level


class FootLock:
    """Causal foot planting: while a foot is planted its ankle is held where it touched down (along
    the floor) by shifting the whole body; the pin drifts back to the measured ankle over
    ``LOCK_FOLLOW_S`` so the correction stays small. With both feet down, each pin pulls the body
    halfway (the least-squares shift). Pins live in camera axes, so a floor estimate that is still
    being refined does not move them; the shift is taken along the floor of the moment."""

    def __init__(self, follow_s: float = LOCK_FOLLOW_S):
        self.follow_s = follow_s
        self.reset()

    def reset(self) -> None:
        self.offset = np.zeros(3)
        self._pins: list[np.ndarray | None] = [None, None]
        self._t: float | None = None

    def __call__(self, ankles: np.ndarray, contacts: np.ndarray, t: float, up: np.ndarray) -> np.ndarray:
        """``ankles`` (2, 3) mm as measured (left, right; camera axes), ``contacts`` (2,) bool, ``up``
        the floor's normal in the same axes. Returns the body's shift (3,) mm, along the floor."""
        dt = 0.0 if self._t is None else max(t - self._t, 0.0)
        self._t = t
        follow = 1.0 - np.exp(-dt / self.follow_s)
        up = np.asarray(up, np.float64) / np.linalg.norm(up)
        along_floor = np.eye(3) - np.outer(up, up)
        for foot in range(2):
            if not contacts[foot]:
                self._pins[foot] = None
            elif self._pins[foot] is None:  # touch-down, where the body is drawn now
                self._pins[foot] = ankles[foot] + self.offset
            else:
                self._pins[foot] = self._pins[foot] + follow * (ankles[foot] - self._pins[foot])
        if contacts.any():
            self.offset = np.mean([self._pins[f] - ankles[f] for f in range(2) if contacts[f]], axis=0)
        else:  # in the air: let the shift go as the pins would
            self.offset = (1.0 - follow) * self.offset
        self.offset = along_floor @ self.offset
        return self.offset.copy()
