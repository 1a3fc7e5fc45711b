"""2D keypoints from MediaPipe Pose (the model bundled in the wheel, tracking mode)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..models.skeletons import MEDIAPIPE


@dataclass
class Keypoints:
    """One frame's MediaPipe output. With no person, ``detected`` is False and everything is zero."""
    landmarks: np.ndarray  # (33, 2) pixels in the full frame
    visibility: np.ndarray  # (33,) in [0, 1]; 0 for a landmark outside the frame
    world: np.ndarray  # (33, 3) MediaPipe's own 3D, mm, hip-centred (zeros when not detected)
    detected: bool

    @classmethod
    def empty(cls) -> "Keypoints":
        n = MEDIAPIPE.num_joints
        return cls(np.zeros((n, 2)), np.zeros(n), np.zeros((n, 3)), False)


class MediaPipePose:
    """MediaPipe's legacy pose solution (model_complexity 1), fed frames no wider than ``max_width``
    (its network sees 256x256 anyway; shrinking first saves the colour conversion of big frames)."""

    def __init__(self, max_width: int = 640, min_detection: float = 0.5, min_tracking: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and up only
        import mediapipe as mp

        self.max_width = max_width
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                            smooth_landmarks=True, min_detection_confidence=min_detection,
                                            min_tracking_confidence=min_tracking)

    def __call__(self, image_bgr: np.ndarray) -> Keypoints:
        h, w = image_bgr.shape[:2]
        if w > self.max_width:
            small = cv2.resize(image_bgr, (self.max_width, round(h * self.max_width / w)), interpolation=cv2.INTER_AREA)
        else:
            small = image_bgr
        result = self._pose.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            return Keypoints.empty()
        lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark])
        px = lm[:, :2] * (w, h)
        inside = (lm[:, 0] > -0.02) & (lm[:, 0] < 1.02) & (lm[:, 1] > -0.02) & (lm[:, 1] < 1.02)
        vis = np.where(inside, np.clip(lm[:, 2], 0, 1), 0.0)
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark]) * 1000.0
        return Keypoints(px, vis, world, True)

    def reset(self) -> None:
        """Forget the tracked person (the next frame runs the detector again)."""
        self._pose.reset()

    def close(self) -> None:
        self._pose.close()
