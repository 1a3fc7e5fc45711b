"""One frame in, one :class:`Result` per person out: MediaPipe 2D -> person tracker -> per person:
H36M-17 + confidence -> left/right swap repair -> image-plane normalisation (and smoothing) -> streaming
lifter (all people in one batched step) -> optional fusion with MediaPipe's own 3D -> optional refiner ->
optional One-Euro filter -> steady bone lengths -> world grounding."""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ...calibration import Camera
from ...calibration.camera import GUESSED_HFOV_DEG
from ...models.lifter import input_from_rows, window_2d
from ...models.skeletons import H36M, MEDIAPIPE, convert, convert_confidence
from ...models.windows import lift_stride
from .backends import LifterBackend
from .bones import SteadyBones
from .filters import OneEuroFilter
from .fusion import Fusion
from .keypoints import Keypoints, KeypointSource, front_end
from .sources import Frame
from .swaps import SwapRepair
from .tracker import PersonTracker
from .world import Floor, WorldFrame, WorldSettings, WorldStream

RATE_FRAMES = 6  # frames whose timestamps tell the frame rate (Pipeline.stride)
MAX_FRAME_RATE = 1000.0  # timestamps closer than this allows are not a frame rate (kept at 30 fps)
MIN_BODY_IN_PICTURE = 0.5  # the share of a body's joints inside the picture below which the person has left it


@dataclass
class Result:
    index: int
    timestamp: float  # seconds on the source's clock
    t_capture: float  # perf_counter at capture
    t_result: float  # perf_counter when the result was ready
    image_size: tuple[int, int]  # (width, height)
    person: bool
    keypoints: np.ndarray  # (17, 2) H36M-17 pixels
    confidence: np.ndarray  # (17,) in [0, 1]
    pose3d: np.ndarray  # (17, 3) mm, root-relative, camera axes; NaN when no person
    uncertainty: np.ndarray  # (17,) mm, expected error per joint; NaN when no person
    mediapipe: Keypoints  # MediaPipe's raw 33 landmarks and its own 3D, for comparison
    refined: np.ndarray = field(default_factory=lambda: np.zeros(H36M.num_joints, bool))
    repaired: np.ndarray = field(default_factory=lambda: np.zeros(H36M.num_joints, bool))  # left/right swapped back
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage (the whole frame's)
    person_id: int | None = None  # the tracker's id for this person (kept while they are missed briefly)
    people: list["Result"] = field(default_factory=list)  # every person lifted in this frame, this one included
    world: WorldFrame | None = None  # where the person stands (trajectory, floor, contacts), when grounded
    lifted: np.ndarray | None = None  # (17, 3) the lift before fusion with MediaPipe's 3D; None: fusion off
    fused: np.ndarray | None = None  # (17,) MediaPipe's weight in pose3d per joint (0: the lift alone); None: off

    @property
    def latency_ms(self) -> float:
        return 1000 * (self.t_result - self.t_capture)


class StageClock:
    """Milliseconds spent in each stage of a frame, summed over everyone in it: ``with clock("lifter"): ...``."""

    def __init__(self):
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + 1000 * (time.perf_counter() - start)


class Refiner(Protocol):
    def __call__(self, pose3d: np.ndarray, uncertainty: np.ndarray, rows2d: torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``rows2d``: the frame's normalised 2D rows with the pelvis row (``window_2d``). Returns the
        refined pose and a (J,) mask of the joints it changed."""

    def reset(self) -> None: ...


class PersonStream:
    """What the pipeline keeps for one tracked person: their lifter streams (keyed by ``(id, phase)`` in
    the backend: one phase, or several interleaved for a fast video) and their own copy of each stateful
    stage (swap repair, fusion, refiner, filter, steady bones), made from the pipeline's stage and remade
    when that is replaced (the app's switches). The streams end when the person is missed and start
    afresh when they are seen again; their bones, which are the person's own, last while the tracker
    knows them, so that a person back from a miss keeps their skeleton and their scale in the world."""

    LASTING = frozenset({"bones"})  # the stages that describe the person, not a stretch of them in view

    def __init__(self, person_id: int):
        self.id = person_id
        self._stages: dict[str, tuple[object, object]] = {}  # name -> (the pipeline's stage, this person's copy)

    def missed(self) -> None:
        """The person is not seen: every stage but the lasting ones starts afresh when they are again."""
        self._stages = {name: held for name, held in self._stages.items() if name in self.LASTING}

    def stage(self, name: str, template):
        if template is None:
            return None
        held = self._stages.get(name)
        if held is None or held[0] is not template:
            own = copy.copy(template)  # shares models and settings; reset() gives it its own state
            own.reset()
            self._stages[name] = held = (template, own)
        return held[1]


class Pipeline:
    def __init__(self, lifter: LifterBackend, camera: Camera | None = None, hfov_deg: float | None = None,
                 keypoints: KeypointSource | None = None,
                 refiner: Refiner | None = None, smoothing: OneEuroFilter | None = None,
                 swap_repair: SwapRepair | None = None, tracker: PersonTracker | None = None,
                 landmark_smoothing: OneEuroFilter | None = None, fusion: Fusion | None = None,
                 bones: SteadyBones | None = None, world: WorldSettings | None = None, people: int = 1,
                 follow: int | None = None):
        self.lifter = lifter
        self.calibration = camera
        self.hfov_deg = hfov_deg  # None: the lens's where the video says it, else GUESSED_HFOV_DEG
        self._guessed: Camera | None = None
        self._guessed_for: tuple[int, int, float] | None = None  # (width, height, field of view)
        self.keypoints = keypoints if keypoints is not None else front_end(people)
        self.refiner = refiner
        self.smoothing = smoothing
        self.swap_repair = swap_repair
        self.landmark_smoothing = landmark_smoothing  # on the 2D the lifter reads, in image-plane units
        self.fusion = fusion  # None: the lift alone
        self.bones = bones  # None: the bones as long as each frame's estimate makes them
        self.tracker = tracker if tracker is not None else PersonTracker()
        self.streams: dict[int, PersonStream] = {}
        self._in_view: set[int] = set()  # the people seen in the last frame
        self.people = people  # how many people are followed (each one's results are in every Result's people)
        self.first_followed = follow  # who to follow from the start (None: the most prominent then)
        self.followed = follow  # the person whose result process() returns
        self._named = follow is not None  # followed because someone named them, not chosen as the most prominent
        # Live, one chosen (not named) whom the tracker has forgotten is handed on to the most prominent;
        # a file's clip is one person, so it keeps whom it chose (offline/process.lifted).
        self.hand_on_forgotten = True
        self.world = world  # None: root-relative only
        self.floor = Floor(world) if world is not None else None  # the camera's, shared by everyone in view
        self._worlds: dict[int, WorldStream] = {}  # each person's grounding, kept while the tracker knows them
        self._first_times: list[float] = []  # the first frames' timestamps, until the frame rate is known
        self.frame_rate: float | None = None  # frames per second, once the first frames' timestamps tell it
        self._processed = 0  # frames processed since the start or the last reset (a live source drops some)
        self._assumed_rate = self.tracker.frame_rate  # the tracker's, until the video's is known

    def reset(self) -> None:
        """Everyone afresh: after a seek or a source change."""
        self.lifter.reset()
        self.streams.clear()
        self._in_view.clear()
        self.tracker.reset()
        self.followed, self._named = self.first_followed, self.first_followed is not None
        self._worlds.clear()
        self._first_times.clear()
        self.frame_rate, self._processed = None, 0
        self.tracker.frame_rate = self._assumed_rate
        if self.floor is not None:
            self.floor.reset()
        self.keypoints.reset()

    def follow(self, person_id: int | None) -> None:
        """Follow this person from now on (None: the most prominent one in the next frame with anyone,
        and so again whenever the tracker has forgotten whom it chose)."""
        self.followed, self._named = person_id, person_id is not None

    def camera_for(self, width: int, height: int, lens_hfov_deg: float | None = None) -> Camera:
        """The calibrated camera, or intrinsics for this frame size from a field of view: the one asked
        for, else the lens's (``Frame.lens_hfov_deg``), else the guess."""
        cal = self.calibration
        if cal is not None:
            if (cal.width, cal.height) != (width, height):
                self.calibration = cal = cal.resized(width, height)
            return cal
        key = (width, height, self.hfov_deg or lens_hfov_deg or GUESSED_HFOV_DEG)
        if self._guessed_for != key:
            self._guessed, self._guessed_for = Camera.from_fov(*key), key
        return self._guessed

    def process(self, frame: Frame) -> Result:
        """Every person in the frame, lifted; returns the followed person's result (an empty one when
        they are missed in this frame), with everyone's in ``people``."""
        h, w = frame.image.shape[:2]
        self._learn_frame_rate(frame.timestamp)
        self._processed += 1
        clock = StageClock()
        with clock("keypoints"):
            tracked = self.tracker.update([p for p in self.keypoints(frame.image, frame.timestamp) if in_picture(p, (w, h))],
                                          (w, h))
        with clock("prepare"):
            seen = {pid for pid, _ in tracked}
            known = seen | {t.id for t in self.tracker.tracks + self.tracker.departed}
            for held in (self.streams, self._worlds):
                for pid in [pid for pid in held if pid not in known]:
                    del held[pid]
            if self.hand_on_forgotten and not self._named and self.followed not in known:
                # the person chosen can no longer come back under their id (gone longer than the tracker
                # remembers, or a false detection it never kept): choose again, as at the start
                self.followed = None
            for gone in self._in_view - seen:
                self.streams[gone].missed()
                for phase in range(self.stride):
                    self.lifter.release((gone, phase))
                if gone in self._worlds:
                    self._worlds[gone].reset()
            self._in_view = seen
            camera = self.camera_for(w, h, frame.lens_hfov_deg)
            if self.floor is not None:
                self.floor.see(frame.image, camera, [mp.box() for _, mp in tracked], frame.timestamp)
            prepared = {pid: self._prepare(self.streams.setdefault(pid, PersonStream(pid)), mp, camera, frame.timestamp)
                        for pid, mp in tracked}
        with clock("lifter"):
            phase = self._processed % self.stride
            lifted = self.lifter.step_streams({(pid, phase): p[3] for pid, p in prepared.items()}) if prepared else {}
        people = []
        for pid, mp in tracked:
            kp, conf, repaired, _, rows = prepared[pid]
            pose, sigma = lifted[pid, phase]
            stream = self.streams[pid]
            refined = np.zeros(len(kp), bool)
            alone = weight = None
            if (fusion := stream.stage("fusion", self.fusion)) is not None:
                with clock("fusion"):
                    alone = np.asarray(pose, np.float64)
                    pose, weight = fusion(alone, sigma, mp.world if mp.detected else None, camera.rays(kp), repaired,
                                          frame.timestamp)
            if (refiner := stream.stage("refiner", self.refiner)) is not None:
                with clock("refine"):
                    pose, refined = refiner(pose, sigma, rows)
            if (smoothing := stream.stage("smoothing", self.smoothing)) is not None:
                with clock("filter"):
                    pose = smoothing(pose, frame.timestamp)
            if (bones := stream.stage("bones", self.bones)) is not None:
                with clock("bones"):
                    pose = bones(pose)
            world = self._world_for(pid).step(pose, kp, conf, camera, frame.timestamp) if self.world else None
            people.append(Result(frame.index, frame.timestamp, frame.t_capture, 0.0, (w, h), True, kp, conf,
                                 np.asarray(pose, np.float64), np.asarray(sigma, np.float64), mp, refined,
                                 repaired, clock.ms, pid, world=world, lifted=alone, fused=weight))
        t4 = time.perf_counter()
        for r in people:
            r.t_result, r.people = t4, people
        return self._followed_result(frame, people, (w, h), clock.ms)

    @property
    def stride(self) -> int:
        """Each person's lifter streams, taking every stride-th frame (``models.windows.lift_stride``)."""
        return lift_stride(self.frame_rate) if self.frame_rate else 1

    def _learn_frame_rate(self, timestamp: float) -> None:
        """From the first ``RATE_FRAMES`` frames' timestamps on, track people in seconds, not frames, and
        lift a fast video at a rate the lifter knows: every ``stride``-th frame in each of ``stride``
        interleaved streams per person (the streams begun before are ended, so that none mixes rates)."""
        if len(self._first_times) >= RATE_FRAMES:
            return
        self._first_times.append(timestamp)
        step = float(np.median(np.diff(self._first_times))) if len(self._first_times) == RATE_FRAMES else 0.0
        if step >= 1.0 / MAX_FRAME_RATE:
            self.frame_rate = self.tracker.frame_rate = 1.0 / step
            if self.stride > 1:
                for pid in self.streams:
                    self.lifter.release((pid, 0))

    def _world_for(self, person_id: int) -> WorldStream:
        """This person's grounding, made on first sight and kept while the tracker knows them."""
        if person_id not in self._worlds:
            self._worlds[person_id] = WorldStream(self.world, self.floor)
        return self._worlds[person_id]

    def _prepare(self, stream: PersonStream, mp: Keypoints, camera: Camera, t: float):
        kp = convert(mp.landmarks, MEDIAPIPE.name, H36M.name)
        conf = convert_confidence(mp.visibility, MEDIAPIPE.name, H36M.name)
        repaired = np.zeros(len(kp), bool)
        if (swap_repair := stream.stage("swap_repair", self.swap_repair)) is not None:
            kp, conf, repaired = swap_repair(kp, conf, t)
        xy = camera.normalize(kp)
        if (steady := stream.stage("landmark_smoothing", self.landmark_smoothing)) is not None:
            xy = steady(xy, t)
        rows = window_2d(xy, conf)
        return kp, conf, repaired, input_from_rows(rows, self.lifter.spec).numpy(), rows

    def _followed_result(self, frame: Frame, people: list[Result], size: tuple[int, int], timings: dict) -> Result:
        # The followed person stays followed, seen or not, while the tracker knows them: a frame without
        # them is a gap in their stream, never someone else's frames. A front end that finds one person
        # at a time (--solo) can only give whoever it sees.
        if people and (self.followed is None or self.keypoints.num_poses == 1):
            self.followed = max(people, key=lambda r: prominence(r.mediapipe, size)).person_id
        for r in people:
            if r.person_id == self.followed:
                return r
        return absent(frame.index, frame.timestamp, frame.t_capture, time.perf_counter(), size, timings,
                      self.followed, people)


def absent(index: int, timestamp: float, t_capture: float, t_result: float, size: tuple[int, int],
           timings: dict | None = None, person_id: int | None = None, people: list[Result] | None = None) -> Result:
    """The result for a frame in which the person is not seen: no keypoints, NaN 3D."""
    j = H36M.num_joints
    nan = np.full((j, 3), np.nan)
    return Result(index, timestamp, t_capture, t_result, size, False, np.zeros((j, 2)), np.zeros(j), nan,
                  nan[:, 0].copy(), Keypoints.empty(), timings=timings or {}, person_id=person_id, people=people or [])


def in_picture(person: Keypoints, size: tuple[int, int]) -> bool:
    """Whether at least ``MIN_BODY_IN_PICTURE`` of the person's body joints lie inside the picture: of
    someone walking out of it, MediaPipe still reports a whole body, the part outside guessed, and the
    lift of that guess turns and bends the body at random."""
    joints = convert(person.landmarks, MEDIAPIPE.name, H36M.name)
    inside = ((joints >= 0) & (joints < size)).all(axis=1)
    return bool(inside.mean() >= MIN_BODY_IN_PICTURE)


def prominence(person: Keypoints, size: tuple[int, int]) -> float:
    """How much a person stands out: their height in the frame, less for being off-centre."""
    x0, y0, x1, y1 = person.box()
    w, h = size
    off_centre = np.hypot((x0 + x1 - w) / w, (y0 + y1 - h) / h) / np.sqrt(2)  # 0 centre .. 1 corner
    return (y1 - y0) / h * (1.0 - 0.5 * min(off_centre, 1.0))
