"""Drawing with OpenCV: the 2D overlay on the video, a 3D skeleton view, and the side-by-side frame
of the rendered MP4. Colours: left joints blue, right joints red/orange, centre joints grey."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ...models.skeletons import Skeleton
from ..live.sources import VideoFileSource
from .clip import in_format
from .video_writer import VideoWriter

SIDE_COLOURS_BGR = {-1: (235, 140, 40), 1: (40, 90, 235), 0: (200, 200, 200)}


def bone_colour(skeleton: Skeleton, child: int) -> tuple[int, int, int]:
    return SIDE_COLOURS_BGR[int(skeleton.sides[child])]


def draw_overlay(image: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, skeleton: Skeleton,
                 min_conf: float = 0.3) -> np.ndarray:
    """Bones and joints on a copy of ``image``; joints under ``min_conf`` are drawn hollow."""
    out = image.copy()
    scale = max(1, round(max(image.shape[:2]) / 640))
    for p, c in skeleton.bones:
        if min(confidence[p], confidence[c]) >= min_conf:
            cv2.line(out, _pt(keypoints[p]), _pt(keypoints[c]), bone_colour(skeleton, c), 2 * scale, cv2.LINE_AA)
    for j, (xy, cf) in enumerate(zip(keypoints, confidence)):
        colour = SIDE_COLOURS_BGR[int(skeleton.sides[j])]
        cv2.circle(out, _pt(xy), 3 * scale, colour, -1 if cf >= min_conf else 1, cv2.LINE_AA)
    return out


def draw_person_id(image: np.ndarray, keypoints: np.ndarray, person_id: int) -> np.ndarray:
    """``image`` with "id N" written above the person's highest joint (what ``--follow`` takes)."""
    seen = keypoints[np.isfinite(keypoints).all(-1)]
    if not len(seen):
        return image
    scale = max(1, round(max(image.shape[:2]) / 640))
    x, y = int(seen[:, 0].min()), max(int(seen[:, 1].min()) - 8 * scale, 12 * scale)
    out = image.copy()
    for colour, width in (((0, 0, 0), 3 * scale), ((255, 255, 255), scale)):  # white on a dark outline
        cv2.putText(out, f"id {person_id}", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, width, cv2.LINE_AA)
    return out


def _pt(xy) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def view_rotation(azimuth_deg: float = 35.0, elevation_deg: float = 15.0) -> np.ndarray:
    """Rotation from camera axes (x right, y down, z forward) to a viewer orbiting the person."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    yaw = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, math.cos(e), math.sin(e)], [0, -math.sin(e), math.cos(e)]])
    return pitch @ yaw


def draw_skeleton_3d(pose3d: np.ndarray, skeleton: Skeleton, size: int, uncertainty: np.ndarray | None = None,
                     rotation: np.ndarray | None = None, extent_mm: float = 2200.0) -> np.ndarray:
    """A square image of the root-relative skeleton seen from an orbiting viewpoint, with a floor grid.
    Joint discs grow with their uncertainty."""
    img = np.full((size, size, 3), 24, np.uint8)
    rot = view_rotation() if rotation is None else rotation
    px_per_mm = size / extent_mm
    centre = np.array([size / 2, size * 0.45])

    def project(points: np.ndarray) -> np.ndarray:
        return (points @ rot.T)[..., :2] * px_per_mm + centre

    floor_y = 950.0  # about the ankles, below the pelvis
    if np.isfinite(pose3d).all():
        floor_y = float(np.max(pose3d[:, 1])) + 20
    for v in np.arange(-1000, 1001, 250):
        for line in (np.array([[v, floor_y, -1000], [v, floor_y, 1000]]),
                     np.array([[-1000, floor_y, v], [1000, floor_y, v]])):
            a, b = project(line)
            cv2.line(img, _pt(a), _pt(b), (60, 60, 60), 1, cv2.LINE_AA)
    if not np.isfinite(pose3d).all():
        cv2.putText(img, "no person", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (160, 160, 160), 2, cv2.LINE_AA)
        return img
    pts = project(pose3d)
    depth = (pose3d @ rot.T)[:, 2]
    for p, c in sorted(skeleton.bones, key=lambda b: -depth[b[1]]):  # far bones first
        cv2.line(img, _pt(pts[p]), _pt(pts[c]), bone_colour(skeleton, c), max(2, size // 150), cv2.LINE_AA)
    for j in np.argsort(-depth):
        r = 3 if uncertainty is None or not np.isfinite(uncertainty[j]) else 3 + min(12, uncertainty[j] / 15)
        cv2.circle(img, _pt(pts[j]), int(r), SIDE_COLOURS_BGR[int(skeleton.sides[j])], -1, cv2.LINE_AA)
    return img


def side_by_side(frame: np.ndarray, panel: np.ndarray, height: int = 720) -> np.ndarray:
    """The video (scaled to ``height``) beside a square 3D panel of the same height; even sizes for H.264."""
    height -= height % 2
    h, w = frame.shape[:2]
    width = max(2, int(round(w * height / h / 2)) * 2)
    left = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    right = cv2.resize(panel, (height, height), interpolation=cv2.INTER_AREA)
    return np.hstack([left, right])


def compose(image: np.ndarray, keypoints: np.ndarray | None, confidence: np.ndarray | None, pose3d: np.ndarray,
            uncertainty: np.ndarray | None, skeleton: Skeleton, height: int = 720) -> np.ndarray:
    """The frame of the rendered MP4: the video with its 2D overlay beside the 3D skeleton."""
    seen = keypoints is not None and np.isfinite(pose3d).all()
    overlay = draw_overlay(image, keypoints, confidence, skeleton) if seen else image
    return side_by_side(overlay, draw_skeleton_3d(pose3d, skeleton, height, uncertainty), height)


def render_clip_video(path, clip, skeleton: Skeleton, video=None, height: int = 720) -> str | None:
    """Render a clip as the side-by-side MP4. With its source video (``video`` or the clip's recorded
    source, when that file is there) the left half is the video; otherwise the 2D skeleton on grey, and
    the returned note says why."""
    pose, kp, conf, sigma = in_format(clip, skeleton)
    cam = clip.meta.get("camera") or {}
    w, h = int(cam.get("width", 640)), int(cam.get("height", 360))
    source_path = Path(video) if video else Path(str(clip.meta.get("source", "")))
    frames, note = None, None
    if not source_path.is_file() and str(source_path) not in (".", "webcam"):
        note = (f"the source video {source_path} is not there, so the 2D is drawn on grey: pass --video with "
                f"the video to draw it on the frames.")
    if source_path.is_file():
        source = VideoFileSource(source_path, max_width=w).start()
        frames = iter(source)
    writer = VideoWriter(path, clip.fps)
    try:
        for f in range(len(clip)):
            image = None
            while frames is not None:  # the video frame that carries this clip frame's timestamp
                frame = next(frames, None)
                if frame is None:
                    frames = None
                elif frame.timestamp >= clip.timestamps[f] - 0.5 / clip.fps:
                    image = frame.image
                    break
            if image is None or image.shape[:2] != (h, w):
                image = np.full((h, w, 3), 48, np.uint8)
            writer.write(compose(image, kp[f], conf[f], pose[f], sigma[f], skeleton, height))
    finally:
        writer.close()
        if source_path.is_file():
            source.stop()
    return note
