"""2D keypoints from MediaPipe Pose: the people in a frame, each as 33 landmarks.

Two front ends, both on the models bundled in the 0.10.21 wheel: :class:`MediaPipePoses`, the Tasks
API's ``PoseLandmarker`` finding up to ``num_poses`` people (the default, made by :func:`front_end`),
and :class:`MediaPipePose`, the legacy single-person solution (faster, but it follows whoever it sees:
``--solo``, for a video with only one person in it). Both run in tracking mode: the detector only
looks for people when fewer are tracked than wanted. Both follow :class:`KeypointSource`.

MediaPipe's pose detector sees the whole frame squeezed into 224 x 224 pixels, so in a wide frame a
person under about a third of its height is often not found at all: the first frames of the demo
clip, or a photo of it, had nobody in them. When a frame gives nobody, both front ends therefore
also search overlapping square tiles of it (:class:`StillSearch`), where the same person is up to
twice as large to the detector. That costs two more runs on frames without anyone (on every fifth
of them while the tiles find nobody either).
"""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ...models.skeletons import MEDIAPIPE

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and up only
IDLE_FRAMES = 4  # after the tiles found nobody, frames without a tile search (a scene with nobody in it)
ASSUMED_FRAME_RATE = 30.0  # frames per second, until the frames' timestamps tell otherwise
SAME_PERSON_COVER = 0.3  # a box covering this much of another (box_cover) is the same person's


@dataclass
class Keypoints:
    """One person's MediaPipe output. With no person, ``detected`` is False and everything is zero."""
    landmarks: np.ndarray  # (33, 2) pixels in the full frame
    visibility: np.ndarray  # (33,) in [0, 1]; 0 for a landmark outside the frame
    world: np.ndarray  # (33, 3) MediaPipe's own 3D, mm, hip-centred (zeros when not detected)
    detected: bool

    @classmethod
    def empty(cls) -> "Keypoints":
        n = MEDIAPIPE.num_joints
        return cls(np.zeros((n, 2)), np.zeros(n), np.zeros((n, 3)), False)

    def box(self, min_visibility: float = 0.3) -> np.ndarray:
        """(x0, y0, x1, y1) pixels around the landmarks seen (all of them when too few are)."""
        seen = self.visibility >= min_visibility
        pts = self.landmarks[seen] if seen.sum() >= 4 else self.landmarks
        return np.r_[pts.min(0), pts.max(0)]

    @property
    def score(self) -> float:
        return float(self.visibility.mean())


class KeypointSource(Protocol):
    """What the pipeline needs of a 2D front end."""

    num_poses: int  # how many people it finds at most in one frame
    smooths_landmarks: bool  # its landmarks come smoothed over time (the pipeline then adds no smoothing)

    def __call__(self, image_bgr: np.ndarray, timestamp: float | None = None) -> list[Keypoints]: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def _keypoints(norm: np.ndarray, world_m: np.ndarray, origin: np.ndarray, size: np.ndarray,
               frame_size: np.ndarray) -> Keypoints:
    """Landmarks ``norm`` (33, 3: x, y in [0, 1] of a region at ``origin`` of ``size`` pixels, and
    visibility) as full-frame pixels; landmarks outside the frame get visibility 0."""
    px = norm[:, :2] * size + origin
    rel = px / frame_size
    inside = ((rel > -0.02) & (rel < 1.02)).all(1)
    return Keypoints(px, np.where(inside, np.clip(norm[:, 2], 0, 1), 0.0), world_m * 1000.0, True)


def _shrunk_rgb(image_bgr: np.ndarray, max_width: int) -> np.ndarray:
    """The frame no wider than ``max_width`` (MediaPipe's networks see 256 px anyway), as RGB."""
    h, w = image_bgr.shape[:2]
    if w > max_width:
        image_bgr = cv2.resize(image_bgr, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)


def box_centre(box: np.ndarray) -> np.ndarray:
    """The centre (..., 2) of boxes (..., 4) as (x0, y0, x1, y1); of a box's move, its centre's move."""
    return 0.5 * (box[..., :2] + box[..., 2:])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (..., 4) as (x0, y0, x1, y1), broadcast."""
    lo, hi = np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[..., 2:] - x[..., :2], 0, None), axis=-1)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def box_cover(a: np.ndarray, b: np.ndarray) -> float:
    """How much of the smaller of two boxes (4,) lies inside the other, 0..1."""
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return float(inter / max(min(np.prod(a[2:] - a[:2]), np.prod(b[2:] - b[:2])), 1e-9))


def distinct(people: list[Keypoints], max_cover: float = 0.6) -> list[Keypoints]:
    """One of each person: of poses whose boxes mostly cover each other, the surest is kept (the
    Tasks API now and then reports a tracked person a second time, freshly detected, or a part of one)."""
    kept: list[Keypoints] = []
    for p in sorted(people, key=lambda k: -k.score):
        if all(box_cover(p.box(), k.box()) <= max_cover for k in kept):
            kept.append(p)
    return kept


def _landmarker(mode: str, num_poses: int):
    from mediapipe.tasks.python import BaseOptions, vision

    from .pose_bundle import pose_landmarker_bundle

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(pose_landmarker_bundle())),
        running_mode=getattr(vision.RunningMode, mode), num_poses=num_poses)
    with startup_log_held():
        landmarker = vision.PoseLandmarker.create_from_options(options)
        if mode == "IMAGE":  # its first run logs too: done here (a video's first frame would change its tracking)
            landmarker.detect(_mp_image(np.zeros((64, 64, 3), np.uint8)))
    return landmarker


@contextmanager
def startup_log_held():
    """MediaPipe's start-up log lines held back from the terminal: its C++ side writes them to stderr
    before its logging is set up, whatever GLOG_minloglevel says, and users read them as errors. They
    are shown after all if the start fails. (The process's stderr is held, so for that moment another
    thread's is too: a model's start takes well under a second.)"""
    sys.stderr.flush()
    terminal = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(terminal, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(terminal, 2)
            os.close(terminal)


def _mp_image(rgb: np.ndarray):
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def _tasks_people(result, origin, size, frame_size) -> list[Keypoints]:
    return [_keypoints(np.array([(p.x, p.y, p.visibility) for p in lm]), np.array([(p.x, p.y, p.z) for p in wl]),
                       origin, size, frame_size)
            for lm, wl in zip(result.pose_landmarks, result.pose_world_landmarks)]


class StillSearch:
    """Looks for people in parts of a frame, each part on its own (still-image mode, no tracking):
    overlapping square tiles along the long side, or a square around where someone was."""

    def __init__(self, num_poses: int = 1):
        self._landmarker = _landmarker("IMAGE", num_poses)

    def _in(self, rgb: np.ndarray, x0: int, y0: int, side: int, frame_size: np.ndarray) -> list[Keypoints]:
        scale = frame_size / rgb.shape[1::-1]
        part = rgb[y0:y0 + side, x0:x0 + side]
        return _tasks_people(self._landmarker.detect(_mp_image(part)), np.array([x0, y0]) * scale,
                             np.array(part.shape[1::-1]) * scale, frame_size)

    def tiles(self, rgb: np.ndarray, frame_size: np.ndarray) -> list[Keypoints]:
        """Square tiles of the frame (none for a frame near square)."""
        h, w = rgb.shape[:2]
        side, long = min(h, w), max(h, w)
        if long < 1.2 * side:
            return []
        found = []
        for start in np.linspace(0, long - side, int(np.ceil(long / side))).round().astype(int):
            found += self._in(rgb, *((start, 0) if w > h else (0, start)), side, frame_size)
        return distinct(found)

    def around(self, rgb: np.ndarray, box: np.ndarray, frame_size: np.ndarray) -> list[Keypoints]:
        """A square of twice the person's size around ``box`` (full-frame pixels)."""
        h, w = rgb.shape[:2]
        b = box * (w / frame_size[0])
        side = int(min(max(2.0 * (b[2:] - b[:2]).max(), 64), h, w))
        x0, y0 = (np.clip((b[:2] + b[2:] - side) / 2, 0, [w - side, h - side])).round().astype(int)
        return self._in(rgb, x0, y0, side, frame_size)

    def close(self) -> None:
        self._landmarker.close()


class MediaPipePose:
    """MediaPipe's legacy pose solution (model_complexity 1): at most one person, ``[]`` when none."""

    num_poses = 1
    smooths_landmarks = True  # the solution's own landmark filter

    def __init__(self, max_width: int = 640, min_detection: float = 0.5, min_tracking: float = 0.5,
                 search_tiles: bool = True):
        import mediapipe as mp

        self.max_width = max_width
        with startup_log_held():
            self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                                smooth_landmarks=True, min_detection_confidence=min_detection,
                                                min_tracking_confidence=min_tracking)
            self._pose.process(np.zeros((64, 64, 3), np.uint8))  # its graph starts, and logs, on the first frame
            self._pose.reset()
        self.search_tiles = search_tiles
        self._search: StillSearch | None = None  # made when first needed
        self._idle = 0  # frames to go before the tiles are searched again, after they found nobody

    def __call__(self, image_bgr: np.ndarray, timestamp: float | None = None) -> list[Keypoints]:
        h, w = image_bgr.shape[:2]
        rgb = _shrunk_rgb(image_bgr, self.max_width)
        frame = np.array([w, h], float)
        result = self._pose.process(rgb)  # the legacy solution keeps its own clock
        if result.pose_landmarks is None:
            if not self.search_tiles:
                return []
            if self._idle > 0:
                self._idle -= 1
                return []
            self._search = self._search or StillSearch(1)
            found = self._search.tiles(rgb, frame)[:1]
            self._idle = 0 if found else IDLE_FRAMES
            return found
        self._idle = 0
        lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark])
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
        return [_keypoints(lm, world, np.zeros(2), frame, frame)]

    def reset(self) -> None:
        """Forget the tracked person (the next frame runs the detector again)."""
        self._pose.reset()
        self._idle = 0

    def close(self) -> None:
        self._pose.close()
        if self._search:
            self._search.close()


class RecentPeople:
    """Where a front end found people lately, in seconds: ``update`` with each frame's boxes and how
    long the frame lasted; ``missing`` gives the boxes of people seen in the last ``memory_s`` seconds
    who are worth looking for again (seen long enough not to be a false alarm, or only just missed,
    and not last seen leaving the picture)."""

    SURE_SEEN_S = 0.045  # seen this long in all (3 frames at 60 fps): no false alarm
    SURE_MISSED_S = 0.075  # missing this briefly (4 frames at 60 fps): looked for even if seen only once

    def __init__(self, memory_s: float = 0.5):
        self.memory_s = memory_s
        self.people: list[tuple[np.ndarray, float, float]] = []  # (box, seconds since seen, seconds seen)

    def missing(self, frame_size: np.ndarray) -> list[np.ndarray]:
        out = []
        for box, missed, seen in self.people:
            centre = box_centre(box) / frame_size
            leaving = ((centre < 0.03) | (centre > 0.97)).any()  # gone out of the picture, most likely
            if (seen >= self.SURE_SEEN_S or missed < self.SURE_MISSED_S) and not leaving:
                out.append(box)
        return out

    def update(self, boxes: list[np.ndarray], step_s: float) -> None:
        kept = []
        for b, missed, seen in self.people:
            now = next((k for k in boxes if box_cover(b, k) > SAME_PERSON_COVER), None)
            if now is not None:
                boxes = [k for k in boxes if k is not now]
                kept.append((now, 0.0, seen + step_s))
            elif missed + step_s < self.memory_s + step_s / 2:  # half a frame's slack for timestamp jitter
                kept.append((b, missed + step_s, seen))
        self.people = kept + [(b, 0.0, step_s) for b in boxes]


class MediaPipePoses:
    """MediaPipe's Tasks ``PoseLandmarker`` (the same full landmark model), following up to
    ``num_poses`` people; one :class:`Keypoints` per person found, in no particular order.

    Its own tracking loses people its detector cannot find again in the whole frame (the demo
    clip's man after a jump), so someone seen lately (:class:`RecentPeople`, ``memory_s``) but
    missing now is looked for around where they were last; and while fewer than ``num_poses`` are
    found, the frame's tiles are searched every ``search_every_s`` seconds for newcomers (and on the
    first frame, and on frames with nobody, as the single-person front end). Times are the frames'
    timestamps, so a 120 fps video is searched as a 30 fps one; without timestamps, frames are 1/30 s
    apart. MediaPipe is given the same times (its landmark filter smooths in time)."""

    DEFAULT_STEP_S = 1 / ASSUMED_FRAME_RATE  # a frame's duration when no timestamp is given
    smooths_landmarks = False  # the pipeline smooths them (factory.LANDMARK_SMOOTHING)

    def __init__(self, num_poses: int = 2, max_width: int = 640, memory_s: float = 0.5,
                 search_every_s: float = 0.25):
        self.num_poses, self.max_width = num_poses, max_width
        self.memory_s, self.search_every_s = memory_s, search_every_s
        self._landmarker = _landmarker("VIDEO", num_poses)
        self._search = StillSearch(num_poses)  # a part may hold someone else too
        self._reset_memory()

    def _reset_memory(self) -> None:
        self._idle = 0
        self._first: float | None = None  # the first frame's time (s)
        self._last = (0.0, 0)  # the last frame's time (s) and the milliseconds MediaPipe was given for it
        self._next_search = -np.inf  # when the tiles are next searched for newcomers
        self.recent = RecentPeople(self.memory_s)

    def _clock(self, timestamp: float | None) -> tuple[float, float, int]:
        """This frame's time (s), its duration (s) and the rising whole milliseconds the Tasks API wants."""
        if self._first is None:
            t = 0.0 if timestamp is None else timestamp
            self._first, step, ms = t, self.DEFAULT_STEP_S, 0
        else:
            t = self._last[0] + self.DEFAULT_STEP_S if timestamp is None else timestamp
            step = min(max(t - self._last[0], 0.0), self.memory_s)
            ms = max(round(1000 * (t - self._first)), self._last[1] + 1)
        self._last = (t, ms)
        return t, step, ms

    def __call__(self, image_bgr: np.ndarray, timestamp: float | None = None) -> list[Keypoints]:
        h, w = image_bgr.shape[:2]
        rgb = _shrunk_rgb(image_bgr, self.max_width)
        frame = np.array([w, h], float)
        t, step, ms = self._clock(timestamp)
        found = distinct(_tasks_people(self._landmarker.detect_for_video(_mp_image(rgb), ms),
                                       np.zeros(2), frame, frame))
        for box in self.recent.missing(frame):
            if len(found) < self.num_poses and not any(box_cover(box, k.box()) > SAME_PERSON_COVER for k in found):
                found = distinct(found + self._search.around(rgb, box, frame))
        self._idle -= 1
        due = t >= self._next_search
        if due:
            self._next_search = t + self.search_every_s - 1e-3
        if len(found) < self.num_poses and (due or (not found and self._idle < 0)):
            found = distinct(found + self._search.tiles(rgb, frame))
            self._idle = 0 if found else IDLE_FRAMES
        found = found[:self.num_poses]
        self.recent.update([k.box() for k in found], step)
        return found

    def reset(self) -> None:
        """Forget the tracked people (the Tasks API has no reset: a fresh landmarker)."""
        self._landmarker.close()
        self._landmarker = _landmarker("VIDEO", self.num_poses)
        self._reset_memory()

    def close(self) -> None:
        for landmarker in (self._landmarker, self._search):
            landmarker.close()


def front_end(people: int = 1, solo: bool = False) -> KeypointSource:
    """The 2D front end for following ``people`` people. Following one person, it still looks for two:
    a second person in view is then seen as someone else, where a front end finding one person at a
    time hands the followed person's place to whoever it finds after losing them. ``solo``: the
    faster legacy solution, for videos with nobody else in them."""
    if solo:
        return MediaPipePose()
    return MediaPipePoses(poses_looked_for(people))


def poses_looked_for(people: int) -> int:
    """How many people the front end looks for when ``people`` are followed: never fewer than two."""
    return max(people, 2)
