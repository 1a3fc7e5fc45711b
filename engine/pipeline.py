"""One frame in, one :class:`Result` out: MediaPipe 2D -> H36M-17 + confidence -> left/right swap
repair -> image-plane normalisation -> streaming lifter -> optional refiner -> optional One-Euro filter."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import torch

from ..calibration import Camera
from ..models.lifter import input_from_rows, window_2d
from ..models.skeletons import H36M, MEDIAPIPE, convert, convert_confidence
from .backends import LifterBackend
from .filters import OneEuroFilter
from .keypoints import Keypoints, MediaPipePose
from .sources import Frame
from .swaps import SwapRepair
from .world import WorldFrame, WorldStream


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
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage
    world: WorldFrame | None = None  # where the person stands (trajectory, floor, contacts), when grounded

    @property
    def latency_ms(self) -> float:
        return 1000 * (self.t_result - self.t_capture)


class Refiner(Protocol):
    def __call__(self, pose3d: np.ndarray, uncertainty: np.ndarray, rows2d: torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``rows2d``: the frame's normalised 2D rows with the pelvis row (``window_2d``). Returns the
        refined pose and a (J,) mask of the joints it changed."""

    def reset(self) -> None: ...


class Pipeline:
    def __init__(self, lifter: LifterBackend, camera: Camera | None = None, hfov_deg: float = 60.0,
                 keypoints: Callable[[np.ndarray], Keypoints] | None = None,
                 refiner: Refiner | None = None, smoothing: OneEuroFilter | None = None,
                 swap_repair: SwapRepair | None = None, world: WorldStream | None = None):
        self.lifter = lifter
        self.calibration = camera
        self.hfov_deg = hfov_deg
        self._guessed: Camera | None = None
        self.keypoints = keypoints if keypoints is not None else MediaPipePose()
        self.refiner = refiner
        self.smoothing = smoothing
        self.swap_repair = swap_repair
        self.world = world
        self._tracking = False

    def reset(self) -> None:
        """A new window: after a seek, a source change or the person leaving."""
        self.lifter.reset()
        if self.refiner is not None:
            self.refiner.reset()
        if self.smoothing is not None:
            self.smoothing.reset()
        if self.swap_repair is not None:
            self.swap_repair.reset()
        if self.world is not None:
            self.world.reset()
        self._tracking = False

    def camera_for(self, width: int, height: int) -> Camera:
        """The calibrated camera, or intrinsics guessed from the field of view for this frame size."""
        cal = self.calibration
        if cal is not None:
            if (cal.width, cal.height) != (width, height):
                self.calibration = cal = cal.resized(width, height)
            return cal
        if self._guessed is None or (self._guessed.width, self._guessed.height) != (width, height):
            self._guessed = Camera.from_fov(width, height, self.hfov_deg)
        return self._guessed

    def process(self, frame: Frame) -> Result:
        timings = {}
        h, w = frame.image.shape[:2]
        t0 = time.perf_counter()
        mp = self.keypoints(frame.image)
        t1 = time.perf_counter()
        timings["keypoints"] = 1000 * (t1 - t0)
        j = H36M.num_joints
        if not mp.detected:
            if self._tracking:
                self.reset()
            nan = np.full((j, 3), np.nan)
            return Result(frame.index, frame.timestamp, frame.t_capture, time.perf_counter(), (w, h), False,
                          np.zeros((j, 2)), np.zeros(j), nan, nan[:, 0].copy(), mp, timings=timings)
        self._tracking = True
        kp = convert(mp.landmarks, MEDIAPIPE.name, H36M.name)
        conf = convert_confidence(mp.visibility, MEDIAPIPE.name, H36M.name)
        repaired = np.zeros(j, bool)
        if self.swap_repair is not None:
            kp, conf, repaired = self.swap_repair(kp, conf)
        xy = self.camera_for(w, h).normalize(kp)
        rows = window_2d(xy, conf)
        t2 = time.perf_counter()
        pose, sigma = self.lifter.step(input_from_rows(rows, self.lifter.spec).numpy())
        t3 = time.perf_counter()
        timings["prepare"] = 1000 * (t2 - t1)
        timings["lifter"] = 1000 * (t3 - t2)
        refined = np.zeros(j, bool)
        if self.refiner is not None:
            pose, refined = self.refiner(pose, sigma, rows)
            t4 = time.perf_counter()
            timings["refine"] = 1000 * (t4 - t3)
            t3 = t4
        if self.smoothing is not None:
            pose = self.smoothing(pose, frame.timestamp)
            timings["filter"] = 1000 * (time.perf_counter() - t3)
        world = self.world.step(pose, kp, conf, self.camera_for(w, h), frame.timestamp) if self.world else None
        return Result(frame.index, frame.timestamp, frame.t_capture, time.perf_counter(), (w, h), True,
                      kp, conf, np.asarray(pose, np.float64), np.asarray(sigma, np.float64), mp, refined, repaired,
                      timings, world)
