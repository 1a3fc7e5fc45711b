"""What is streamed for one result: the followed person's joints in metres, Y up, and the humanoid's
bone rotations (docs/streaming.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...calibration.floor import camera_to_y_up
from ...models.humanoid import Humanoid
from ..live.pipeline import Result


@dataclass
class StreamFrame:
    """What goes out for one result: the followed person, or that they are not seen in this frame."""
    index: int
    time: float  # seconds on the source's clock
    t_result: float  # perf_counter when the pipeline's result was ready (latency)
    person_id: int | None
    joints: np.ndarray | None  # (17, 3) H36M-17 metres, Y up, Z towards the camera; None: not seen
    grounded: bool  # in the world (floor at Y = 0); else set down with its lowest joint on Y = 0
    bones: tuple[str, ...]  # the humanoid's bones (VRM 1.0 names)
    hips: np.ndarray | None  # (3,) metres, the humanoid's hips position
    rotations: np.ndarray | None  # (len(bones), 4) quaternions xyzw relative to the parent, right-handed
    translations: np.ndarray | None  # (len(bones), 3) metres in the parent's frame (the hips': ``hips``)

    @property
    def seen(self) -> bool:
        return self.joints is not None


def frame_of(result: Result, humanoid: Humanoid) -> StreamFrame:
    """The followed person of ``result`` as it is streamed: in the world when grounded, else the
    root-relative pose turned Y up and set down with its lowest joint on Y = 0."""
    joints, grounded = None, False
    if result.person:
        placed = result.world.placed(result.pose3d) if result.world is not None else None
        grounded = placed is not None
        if grounded:
            joints = placed / 1000
        else:
            joints = camera_to_y_up(result.pose3d) / 1000
            joints = joints - [0.0, joints[:, 1].min(), 0.0]
        if not np.isfinite(joints).all():
            joints, grounded = None, False
    hips = rotations = translations = None
    if joints is not None:
        rotations = humanoid.local_rotations(joints[None])[0]
        translations = humanoid.local_translations(joints[None])[0, :len(humanoid.bones)]
        hips = humanoid.hips_position(joints[None])[0]
    return StreamFrame(result.index, result.timestamp, result.t_result, result.person_id, joints, grounded,
                       humanoid.bones, hips, rotations, translations)
