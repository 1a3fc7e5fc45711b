"""Live world grounding, frame by frame (``models.world`` does the geometry): one :class:`Floor` per
camera (gravity and the camera's height, refitted on the resting feet of everyone seen in the last
``window_s`` seconds until it has settled, then only nudged, and less often) and one
:class:`WorldStream` per person (metric scale, camera-frame root trajectory, which foot is planted).

Gravity is all the evidence at hand, each weighted by how sure it is: the scene's own verticals
(walls, doors, poles: line segments meeting at a vertical vanishing point, from a few frames of the
first seconds, people masked out), the bodies' plumb line while they stand (of the people on the
floor, once it is found), and how people hold cameras (little roll). When the scene's verticals are
sure, they alone set gravity and the feet set only the floor's height; without them the planted feet's
plane refines the prior. A person on a roof tilts the street's floor neither through the scene's
lines nor through their own plumb line."""
from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...calibration import Camera
from ...calibration.floor import Ground, camera_to_y_up, up_from_tilt
from ...calibration.trajectory import DEFAULT_HEIGHT_M, TrajectoryFilter, check_height, root_translation
from ...calibration.verticals import (
    IMAGE_UP,
    Segments,
    UpEstimate,
    combine_up,
    detect_segments,
    fit_scene_up,
    holding_prior,
)
from ...models.angles import angle_between, joint_angles
from ...models.world import (
    ANKLES,
    CONTACT_SPAN,
    LEVEL_BAND_PER_STATURE,
    FootLock,
    StandingLevel,
    body_up,
    fit_ground,
    foot_contacts,
    stature_mm,
)

REFIT_EVERY_S = 1 / 6  # seconds between floor refits while settling
REFIT_EVERY_S_SETTLED = 1.0  # and once settled
SETTLE_S = 3.0  # seconds of feet seen before the floor counts as settled
SETTLED_WEIGHT = 0.05  # after settling, each refit moves the estimate this fraction of the way
LEVEL_CHANGE_S = 1.0  # refits this long on another level (a lower floor found) move the floor there at once
SCENE_FRAMES = 8  # frames whose line segments are pooled for the scene's verticals (a still camera)
SCENE_EVERY_S = 0.5  # seconds between them
BODY_SIGMA_DEG = 12.0  # how far the bodies' plumb line is off gravity, typically, on real video
SCENE_TRUSTED_DEG = 5.0  # scene verticals this sure set gravity on their own
SCENE_AGREES_DEG = 30.0  # farther from the plumb line, the lines are taken for another family (a turned frame)
PRIOR_MOVED_DEG = 5.0  # a plumb line that moved less than this picks the same family of lines
# How people hold cameras: little roll (phones upright or level); pitch anything from looking up at a
# stage to filming the floor from above, so barely a prior.
HOLDING_ROLL_SIGMA_DEG = 10.0
HOLDING_PITCH_SIGMA_DEG = 45.0


@dataclass
class WorldFrame:
    root_mm: np.ndarray  # (3,) the root in the camera frame, metric (mm); NaN when no person
    scale: float  # the factor applied to the lifter's pose for the subject's height
    ground: Ground | None  # the floor as estimated so far (None until a foot has rested)
    contacts: np.ndarray  # (2,) bool: left, right foot planted
    # The floor's share of ``scale`` (its scale onto the floor: the person's last, or 1, until the feet
    # of this stretch rest on it), the floor's key for this stretch of the person in view, and every
    # stretch's scale onto the floor as last refitted (all three for re-placing a clip on the last floor)
    onto: float = 1.0
    track: int = -1
    floor_scales: Mapping[int, float] | None = None

    def placed(self, pose: np.ndarray) -> np.ndarray | None:
        """The root-relative ``pose`` (17, 3) mm in the world (Y up, floor 0, the camera's foot point at
        the origin), or None before the floor is known."""
        if self.ground is None or not np.isfinite(self.root_mm).all():
            return None
        return self.ground.to_world(self.scale * np.asarray(pose) + self.root_mm)


@dataclass(frozen=True)
class WorldSettings:
    height_m: float = DEFAULT_HEIGHT_M
    camera_pitch_deg: float | None = None  # a user-set camera tilt (down) instead of the estimate
    camera_roll_deg: float = 0.0
    camera_height_m: float | None = None  # a user-set camera height above the floor
    foot_lock: bool = True  # hold planted feet still (shifting the body by a few cm at most)

    def __post_init__(self) -> None:
        check_height(self.height_m)
        if self.camera_pitch_deg is not None and not -90 < self.camera_pitch_deg < 90:
            raise ValueError(f"a camera pitch of {self.camera_pitch_deg:g} degrees is out of range: give -90..90.")
        if self.camera_height_m is not None and not 0 < self.camera_height_m < 50:
            raise ValueError(f"a camera height of {self.camera_height_m:g} m is out of range: give 0..50 metres.")

    def to_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


class Floor:
    """The floor seen by one camera, from the feet of everyone it sees (see the module docstring).
    Each person's stretch of frames in view is a track (:meth:`track`), so that foot speeds are never
    taken across two people or across a gap."""

    def __init__(self, settings: WorldSettings | None = None, window_s: float = 30.0):
        self.settings = settings or WorldSettings()
        self.window_s = window_s
        self._keys = itertools.count()
        self.reset()

    def reset(self) -> None:
        """A new camera: nothing seen yet."""
        self._tracks: dict[int, deque[tuple[np.ndarray, float]]] = {}  # key -> (absolute pose mm, time)
        self._first_t: float | None = None
        self._refit_t = -np.inf
        self.ground: Ground | None = None
        self._scales: dict[int, float] = {}  # track -> its scale onto the floor
        self.settled = False
        self._elsewhere_since: float | None = None  # since when the refits have found another level
        self._segments: list[Segments] = []  # line segments of the frames sampled so far
        self._scene_t = -np.inf
        # The fits of the segments so far: (prior, fit) for image-up and for the last plumb line refitted to
        self._scene_fits: list[tuple[np.ndarray, UpEstimate | None]] = []

    def track(self) -> int:
        """A key for one person's new stretch in view."""
        return next(self._keys)

    def see(self, image_bgr: np.ndarray, camera: Camera, boxes: list[np.ndarray], t: float) -> None:
        """A frame of the scene, ``boxes`` (x0, y0, x1, y1 px) around the people in it: its line segments
        are kept, every ``SCENE_EVERY_S`` for the first ``SCENE_FRAMES`` samples (the camera stands still)."""
        if self.settings.camera_pitch_deg is not None or len(self._segments) >= SCENE_FRAMES:
            return
        if t - self._scene_t >= SCENE_EVERY_S or t < self._scene_t:
            self._scene_t = t
            self._segments.append(detect_segments(image_bgr, camera, np.array(boxes).reshape(-1, 4)))
            self._scene_fits = []

    def scene_up(self, body: np.ndarray) -> UpEstimate | None:
        """Gravity from the scene's verticals, when they agree with the bodies' plumb line ``body``: the
        lines' family nearest image-up, else the one nearest the plumb line (a frame turned a quarter),
        else none."""
        for i, prior in enumerate((IMAGE_UP, body)):
            # refitted when new segments came, or the plumb line moved: it only picks a family of lines
            if len(self._scene_fits) <= i or angle_between(self._scene_fits[i][0], prior) > PRIOR_MOVED_DEG:
                self._scene_fits[i:] = [(prior, self._fit_scene(prior))]
            fit = self._scene_fits[i][1]
            if fit is not None and angle_between(fit.up, body) <= SCENE_AGREES_DEG:
                return fit
        return None

    def _fit_scene(self, prior: np.ndarray) -> UpEstimate | None:
        """The sampled frames' segments pooled; when people hide too many lines for that, the surest
        of the frames on its own."""
        if not self._segments:
            return None
        pooled = fit_scene_up(Segments.concat(self._segments), prior)
        if pooled is not None:
            return pooled
        alone = [fit for fit in (fit_scene_up(seg, prior) for seg in self._segments) if fit is not None]
        return min(alone, key=lambda fit: fit.sigma_deg, default=None)

    def observe(self, key: int, absolute: np.ndarray, t: float) -> None:
        """One frame of a person's metric camera-frame pose (17, 3) mm on track ``key``."""
        held = self._tracks.setdefault(key, deque())
        if held and t <= held[-1][1]:
            held.clear()  # the clock went back: a seek, a new track
        held.append((absolute, t))
        for k in list(self._tracks):
            frames = self._tracks[k]
            while frames and frames[0][1] < t - self.window_s:
                frames.popleft()
            if not frames:
                del self._tracks[k]
        self._first_t = t if self._first_t is None else self._first_t
        if self.ground is None or t - self._refit_t >= (REFIT_EVERY_S_SETTLED if self.settled else REFIT_EVERY_S):
            self._refit(t)

    def _refit(self, t: float) -> None:
        st = self.settings
        keys = [k for k, frames in self._tracks.items() if len(frames) >= 2]
        tracks = [(np.array([p for p, _ in self._tracks[k]]), np.array([s for _, s in self._tracks[k]])) for k in keys]
        if not tracks:
            return
        self._refit_t = t
        stature = 1000.0 * st.height_m
        feet = [(p[:, ANKLES], s) for p, s in tracks]
        prior, fixed = self._gravity_prior([p for p, _ in tracks])
        fitted = fit_ground(feet, prior, stature, fixed_up=fixed)
        if fitted is None:
            return
        if not fixed and not fitted.on_floor.all():
            # The plumb line again from the people on this floor alone: one on a roof or a stage is seen
            # from below, which leans their lift back (the demo clip's man at 40 % of its size tilted
            # the street 10°, the scene's lines too small to be sure of).
            prior, fixed = self._gravity_prior([p for (p, _), on in zip(tracks, fitted.on_floor) if on])
            fitted = fit_ground(feet, prior, stature, fixed_up=fixed) or fitted
        fit = fitted.ground
        if st.camera_height_m is not None:
            fit = Ground(fit.up, 1000.0 * st.camera_height_m)
        if self.settled and not self._level_changed(fit, stature, t):  # settled: only nudge, so the world stays put
            up = np.asarray(self.ground.up) + SETTLED_WEIGHT * (np.asarray(fit.up) - np.asarray(self.ground.up))
            up /= np.linalg.norm(up)
            h = self.ground.camera_height_mm + SETTLED_WEIGHT * (fit.camera_height_mm - self.ground.camera_height_mm)
            fit = Ground(tuple(float(v) for v in up), h)
        # each person's scale onto the floor as it now stands (the fitted floor's height may have been
        # nudged or set by the user)
        onto = fit.camera_height_mm / fitted.ground.camera_height_mm
        self._scales = {k: float(onto * s) for k, s, on in zip(keys, fitted.scales, fitted.on_floor) if on}
        self.ground = fit
        self.settled = self.settled or t - self._first_t >= SETTLE_S

    def _gravity_prior(self, poses: list[np.ndarray]) -> tuple[np.ndarray, bool]:
        """Gravity before the feet (camera axes), from the user's tilt, else the scene's verticals, the
        plumb line of the bodies in ``poses`` (each (N, 17, 3) mm) and how cameras are held; and
        whether it is sure enough to be kept as it is (the feet then set only the floor's height)."""
        st = self.settings
        if st.camera_pitch_deg is not None:
            return up_from_tilt(st.camera_pitch_deg, st.camera_roll_deg), True
        body = body_up(np.concatenate(poses))
        scene = self.scene_up(body)
        if scene is not None and scene.sigma_deg <= SCENE_TRUSTED_DEG:
            # Sure verticals set gravity on their own: the bodies' plumb line leans as the people do (6-17°
            # off on Pose2Sim's phones), and weighed in it moved their 0.1-0.4° by up to 0.8°.
            return scene.up, True
        return combine_up([scene, UpEstimate.isotropic(body, BODY_SIGMA_DEG, "bodies"),
                           holding_prior(0.0, HOLDING_PITCH_SIGMA_DEG, HOLDING_ROLL_SIGMA_DEG)]).up, False

    @property
    def scales(self) -> Mapping[int, float]:
        """The factor that puts each track's feet on the floor, as last refitted (replaced, never changed,
        by a refit), for the tracks whose feet rest on it."""
        return self._scales

    def _level_changed(self, fit: Ground, stature: float, t: float) -> bool:
        """Whether the refits have put the floor on another level for ``LEVEL_CHANGE_S``."""
        if abs(fit.camera_height_mm - self.ground.camera_height_mm) <= LEVEL_BAND_PER_STATURE * stature:
            self._elsewhere_since = None
            return False
        self._elsewhere_since = t if self._elsewhere_since is None else self._elsewhere_since
        if t - self._elsewhere_since < LEVEL_CHANGE_S:
            return False
        self._elsewhere_since = None
        return True


class WorldStream:
    """Grounds one person's root-relative poses, one frame at a time, on the camera's ``floor``
    (shared by everyone the camera sees; a floor of its own when none is given)."""

    def __init__(self, settings: WorldSettings | None = None, floor: Floor | None = None):
        self.settings = settings or (floor.settings if floor is not None else WorldSettings())
        self.floor = floor if floor is not None else Floor(self.settings)
        self.trajectory = TrajectoryFilter()
        self.lock = FootLock() if self.settings.foot_lock else None
        self.standing = StandingLevel(self.stature_mm)
        self._onto = 1.0  # the person's last scale onto the floor: a new stretch's until the floor has its own
        self.reset()

    def reset(self) -> None:
        """The person left: a new stretch in view, their trajectory restarts; the floor (the camera's)
        stays, and so does the person's scale onto it until it is refitted with the new stretch's feet."""
        self.trajectory.reset()
        self._stature_sum, self._stature_n = 0.0, 0
        self._recent: deque[tuple[np.ndarray, float]] = deque(maxlen=CONTACT_SPAN + 1)  # world ankles, time
        self._key = self.floor.track()
        self.standing.reset()
        if self.lock is not None:
            self.lock.reset()

    @property
    def stature_mm(self) -> float:
        return 1000.0 * self.settings.height_m

    def step(self, pose: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, camera: Camera,
             t: float) -> WorldFrame:
        """``pose`` (17, 3) mm root-relative camera axes, ``keypoints`` (17, 2) px, ``confidence`` (17,)."""
        pose = np.asarray(pose, np.float64)
        none = np.zeros(2, bool)
        s = float(stature_mm(pose))
        if not np.isfinite(s):
            return WorldFrame(np.full(3, np.nan), float("nan"), self.floor.ground, none)
        self._stature_sum += s
        self._stature_n += 1
        scale = self.stature_mm * self._stature_n / self._stature_sum
        body = scale * pose
        root = self.trajectory(root_translation(body, camera.rays(keypoints), confidence), t)
        if not np.isfinite(root).all():
            return WorldFrame(root, scale, self.floor.ground, none)
        self.floor.observe(self._key, body + root, t)
        ground = self.floor.ground
        if ground is None:  # on this stretch still, so that a clip re-places it on the floor found later
            return WorldFrame(root, scale, None, none, 1.0, self._key)
        # the body and its distance grow or shrink together, feet onto the floor
        onto = self._onto = self.floor.scales.get(self._key, self._onto)
        scale, root = onto * scale, onto * root
        absolute = onto * body + root
        ankles = ground.to_world(absolute[list(ANKLES)])
        if self._recent and t <= self._recent[-1][1]:
            self._recent.clear()
        self._recent.append((ankles, t))
        on = np.array([0.0, self.standing(ankles, t), 0.0])  # what they stand on: the floor, or above it
        recent = np.array([a for a, _ in self._recent]) - on
        contacts = foot_contacts(recent, np.array([s for _, s in self._recent]), onto * self.stature_mm)[-1]
        if self.lock is not None:
            root = root + self.lock(absolute[list(ANKLES)], contacts, t, np.array(ground.up))
        return WorldFrame(root, scale, ground, contacts, onto, self._key, self.floor.scales)


def has_world(clip) -> bool:
    """Whether a clip carries world grounding (clips made before it, or with it off, do not)."""
    return clip.trajectory is not None and clip.scale is not None and bool((clip.meta.get("world") or {}).get("ground"))


def world_pose(clip) -> np.ndarray:
    """The clip's poses (N, 17, 3) in mm in the gravity-aligned world: Y up, the floor at Y = 0, the
    horizontal origin under the root's first seen position (the camera's place is ``camera_position``)."""
    world = _grounded(clip)[1]
    return world - _horizontal_origin(world)


def camera_position(clip) -> np.ndarray:
    """Where the camera stands (3,) in :func:`world_pose`'s axes, mm."""
    ground, world = _grounded(clip)
    return np.array([0.0, ground.camera_height_mm, 0.0]) - _horizontal_origin(world)


def _grounded(clip) -> tuple[Ground, np.ndarray]:
    ground = Ground.from_dict(clip.meta["world"]["ground"])
    return ground, ground.to_world(clip.scale[:, None, None] * clip.pose3d + clip.trajectory[:, None])


def _horizontal_origin(world: np.ndarray) -> np.ndarray:
    seen = np.flatnonzero(np.isfinite(world[:, 0]).all(-1))
    return world[seen[0], 0] * [1.0, 0.0, 1.0] if len(seen) else np.zeros(3)


def frame_angles(pose: np.ndarray, world: WorldFrame | None) -> dict[str, float]:
    """One frame's joint angles (deg, ``models.angles``): in the world once the floor is known, else
    with the camera taken as level."""
    placed = world.placed(pose) if world is not None else None
    return {k: float(v) for k, v in joint_angles(placed if placed is not None else camera_to_y_up(pose)).items()}
