"""The two views: the video with its 2D overlay, and the 3D skeleton (pyqtgraph.opengl)."""
from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
import pyqtgraph.opengl as gl
from PySide6 import QtCore, QtWidgets

from ..calibration import Camera
from ..engine.live.world import WorldFrame
from ..models.skeletons import Skeleton

# RGBA in 0..1: left blue, right orange-red, centre light grey (as the rendered MP4).
SIDE_RGBA = {-1: (0.16, 0.55, 0.92, 1.0), 1: (0.92, 0.35, 0.16, 1.0), 0: (0.8, 0.8, 0.8, 1.0)}
COMPARISON_RGBA = (0.55, 0.85, 0.45, 0.9)
# One colour per tracked person (by id), for their label and, when not followed, their skeleton.
PERSON_RGBA = ((0.95, 0.80, 0.20, 1.0), (0.30, 0.85, 0.55, 1.0), (0.85, 0.45, 0.90, 1.0),
               (0.35, 0.80, 0.95, 1.0), (0.95, 0.55, 0.55, 1.0), (0.70, 0.70, 0.30, 1.0))


def person_rgba(person_id: int) -> tuple[float, float, float, float]:
    return PERSON_RGBA[person_id % len(PERSON_RGBA)]


def _rgb255(rgba) -> list[int]:
    return [int(255 * c) for c in rgba[:3]]


def _bone_segments(points: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Endpoints (2 B, D) and per-vertex colours (2 B, 4) of every bone, for 'pairs'/'lines' drawing."""
    pairs = np.array(skeleton.bones)
    seg = points[pairs.ravel()]
    colours = np.repeat([SIDE_RGBA[int(skeleton.sides[c])] for _, c in skeleton.bones], 2, axis=0)
    return seg, colours


def _swatch(rgba, width: int = 1) -> str:
    """A coloured line segment for a rich-text legend."""
    return f"<span style='color:#{''.join(f'{int(255 * c):02x}' for c in rgba[:3])}'>{'━' * width}</span>"


class VideoView(pg.GraphicsLayoutWidget):
    """The frame as an image, bones as line pairs and joints as dots on top (y grows downwards).
    The followed person is drawn in left/right colours, everyone else in their own colour, and each
    is labelled with their id; a click on the picture is reported in image pixels (``clicked``)."""

    clicked = QtCore.Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground((20, 20, 20))
        self.box = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.bones = {side: pg.PlotDataItem(connect="pairs", pen=pg.mkPen(
            [int(255 * c) for c in rgba[:3]], width=3)) for side, rgba in SIDE_RGBA.items()}
        for item in self.bones.values():
            self.box.addItem(item)
        self.joints = pg.ScatterPlotItem(size=7, pen=None)
        self.box.addItem(self.joints)
        self.others = [pg.PlotDataItem(connect="pairs", pen=pg.mkPen(_rgb255(c), width=2)) for c in PERSON_RGBA]
        self.labels: list[pg.TextItem] = []
        for item in self.others:
            self.box.addItem(item)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.overlay_visible = True
        self._shape: tuple[int, int] | None = None

    def show_frame(self, image_bgr: np.ndarray) -> None:
        self.image.setImage(image_bgr[..., ::-1], autoLevels=False, levels=(0, 255))
        if image_bgr.shape[:2] != self._shape:
            self._shape = image_bgr.shape[:2]
            self.box.setRange(xRange=(0, self._shape[1]), yRange=(0, self._shape[0]), padding=0)

    def show_overlay(self, keypoints: np.ndarray | None, confidence: np.ndarray | None, skeleton: Skeleton,
                     min_conf: float = 0.3) -> None:
        visible = self.overlay_visible and keypoints is not None
        for side, item in self.bones.items():
            if not visible:
                item.setData([], [])
                continue
            pts = [(keypoints[p], keypoints[c]) for p, c in skeleton.bones
                   if skeleton.sides[c] == side and min(confidence[p], confidence[c]) >= min_conf]
            xy = np.array(pts).reshape(-1, 2) if pts else np.zeros((0, 2))
            item.setData(xy[:, 0], xy[:, 1])
        if not visible:
            self.joints.setData([])
            return
        brushes = [pg.mkBrush([int(255 * c) for c in SIDE_RGBA[int(s)][:3]]) for s in skeleton.sides]
        self.joints.setData(pos=keypoints, brush=brushes)

    def overlay_point_count(self) -> int:
        return len(self.joints.data)

    def show_people(self, people: list[tuple[int, np.ndarray, np.ndarray, bool]], skeleton: Skeleton,
                    min_conf: float = 0.3) -> None:
        """Everyone's id above their head, and the skeletons of those not followed in their colour:
        ``people`` holds (id, keypoints, confidence, followed)."""
        shown = people if self.overlay_visible else []
        pairs: dict[int, list] = {}
        for pid, kp, conf, followed in shown:
            if not followed:
                pairs.setdefault(pid % len(self.others), []).extend(
                    (kp[p], kp[c]) for p, c in skeleton.bones if min(conf[p], conf[c]) >= min_conf)
        for slot, item in enumerate(self.others):
            xy = np.array(pairs.get(slot, np.zeros((0, 2, 2)))).reshape(-1, 2)
            item.setData(xy[:, 0], xy[:, 1])
        while len(self.labels) < len(shown):
            self.labels.append(pg.TextItem(anchor=(0.5, 1.0)))
            self.box.addItem(self.labels[-1])
        for label, person in zip(self.labels, shown + [None] * len(self.labels)):
            label.setVisible(person is not None)
            if person is not None:
                pid, kp, conf, followed = person
                label.setText(f"{pid}" + (" ●" if followed else ""), color=_rgb255(person_rgba(pid)))
                label.setPos(float(kp[:, 0].mean()), float(kp[:, 1].min()) - 4)

    def labels_shown(self) -> list[pg.TextItem]:
        return [label for label in self.labels if label.isVisible()]

    def _clicked(self, event) -> None:
        if self._shape is not None and event.button() == QtCore.Qt.LeftButton:
            point = self.box.mapSceneToView(event.scenePos())
            self.clicked.emit(point.x(), point.y())


class SkeletonView(gl.GLViewWidget):
    """The skeleton on a ground grid, orbit/zoom with the mouse. Joint dots grow with their uncertainty.

    Grounded (a ``WorldFrame`` with a floor): the person moves over the estimated floor, the grid,
    with a short trail of the root (``trail_visible``) and the camera's frustum; the world's Y-up axes
    show as (X, -Z, Y) in metres, the view following the person. Otherwise the root-relative pose
    stands on the grid, camera axes (x right, y down, z forward) shown as (x, z, -y)."""

    DEFAULT_VIEW = {"distance": 4.2, "elevation": 12, "azimuth": -80}
    TRAIL_S = 3.0
    TRAIL_RGBA = (0.95, 0.8, 0.3, 0.9)
    FRUSTUM_RGBA = (0.6, 0.75, 1.0, 0.8)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackgroundColor((24, 24, 28))
        self.grid = grid = gl.GLGridItem()
        grid.setSize(4, 4)
        grid.setSpacing(0.25, 0.25)
        self.addItem(grid)
        self.trail = gl.GLLinePlotItem(mode="line_strip", width=2, antialias=True, color=self.TRAIL_RGBA)
        self.frustum = gl.GLLinePlotItem(mode="lines", width=1, antialias=True, color=self.FRUSTUM_RGBA)
        self.addItem(self.trail)
        self.addItem(self.frustum)
        self.trail_visible = True
        self._trail: deque[tuple[float, np.ndarray]] = deque()
        self._grounded = False
        self.bones = gl.GLLinePlotItem(mode="lines", width=3, antialias=True)
        self.joints = gl.GLScatterPlotItem(pxMode=True)
        self.comparison = gl.GLLinePlotItem(mode="lines", width=2, antialias=True, color=COMPARISON_RGBA)
        self.resampled = gl.GLScatterPlotItem(pxMode=True, color=(1.0, 0.9, 0.2, 1.0))
        self.others = gl.GLLinePlotItem(mode="lines", width=2, antialias=True)  # the people not followed
        for item in (self.bones, self.joints, self.comparison, self.resampled, self.others):
            self.addItem(item)
        self.legend = QtWidgets.QLabel(f"{_swatch(SIDE_RGBA[-1])}{_swatch(SIDE_RGBA[1])} poselift &nbsp; "
                                       f"{_swatch(COMPARISON_RGBA, 2)} MediaPipe's own 3D", self)
        self.legend.setStyleSheet("color: #dddddd; background: rgba(0, 0, 0, 120); padding: 3px 6px;")
        self.legend.move(8, 8)
        self.legend.hide()
        self.reset_view()

    def reset_view(self) -> None:
        self.setCameraPosition(pos=pg.Vector(0, 0, 0.9), **self.DEFAULT_VIEW)

    @staticmethod
    def to_scene(pose_mm: np.ndarray, floor_mm: float) -> np.ndarray:
        p = np.asarray(pose_mm, dtype=np.float64) / 1000.0
        return np.column_stack([p[:, 0], p[:, 2], floor_mm / 1000.0 - p[:, 1]])

    @staticmethod
    def world_to_scene(points_mm: np.ndarray) -> np.ndarray:
        """World (Y up, Z towards the camera) mm -> scene (Z up) metres."""
        p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3) / 1000.0
        return np.column_stack([p[:, 0], -p[:, 2], p[:, 1]])

    def _show_world(self, world: WorldFrame | None, camera: Camera | None, t: float | None) -> None:
        """Grid under the person, trail and frustum for a grounded frame; put back when not grounded."""
        grounded = world is not None and world.ground is not None and np.isfinite(world.root_mm).all()
        if not grounded:
            if self._grounded:
                self.grid.resetTransform()
                self.grid.setSize(4, 4)
                self.reset_view()
                self._grounded = False
            self._trail.clear()
            for item in (self.trail, self.frustum):
                item.setData(pos=np.zeros((0, 3)))
            return
        root = self.world_to_scene(world.ground.to_world(world.root_mm))[0]
        if not self._grounded:
            self.grid.setSize(10, 10)
            self._grounded = True
        self.grid.resetTransform()
        self.grid.translate(round(root[0]), round(root[1]), 0.0)  # 1 m steps: the floor stays put
        self.opts["center"] = pg.Vector(root[0], root[1], root[2])  # the pelvis: on a roof or a stage too
        if t is not None:
            self._trail.append((t, root))
            while self._trail and (self._trail[0][0] < t - self.TRAIL_S or self._trail[0][0] > t):
                self._trail.popleft()
        trail = np.array([p for _, p in self._trail]) if self.trail_visible and len(self._trail) > 1 else np.zeros((0, 3))
        self.trail.setData(pos=trail * [1, 1, 0] + [0, 0, 0.005])
        self.frustum.setData(pos=self._frustum(world, camera) if camera is not None else np.zeros((0, 3)))

    def _frustum(self, world: WorldFrame, camera: Camera, depth_mm: float = 600.0) -> np.ndarray:
        """Line pairs of the camera's viewing pyramid, ``depth_mm`` deep, in the scene."""
        corners = np.array([[0, 0], [camera.width, 0], [camera.width, camera.height], [0, camera.height]], float)
        rays = camera.rays(corners)
        tips = np.column_stack([rays, np.ones(4)]) * depth_mm
        pts = world.ground.to_world(np.vstack([np.zeros(3), tips]))
        scene = self.world_to_scene(pts)
        apex, rim = scene[0], scene[1:]
        sides = np.stack([np.repeat(apex[None], 4, 0), rim], 1).reshape(-1, 3)
        edges = np.stack([rim, np.roll(rim, -1, 0)], 1).reshape(-1, 3)
        return np.vstack([sides, edges])

    def show_pose(self, pose3d: np.ndarray | None, uncertainty: np.ndarray | None, skeleton: Skeleton,
                  comparison: np.ndarray | None = None, comparison_skeleton: Skeleton | None = None,
                  resampled: np.ndarray | None = None, world: WorldFrame | None = None,
                  camera: Camera | None = None, t: float | None = None) -> None:
        """``world`` places the pose (root-relative, in ``skeleton``'s joints) over the floor; ``t`` (s)
        adds to the trail (redraws of the same frame pass None)."""
        if pose3d is None or not np.isfinite(pose3d).all():
            for item in (self.bones, self.joints, self.comparison, self.resampled):
                item.setData(pos=np.zeros((0, 3)))
            self._show_world(None, None, None)
            self.legend.hide()
            return
        placed = world.placed(pose3d) if world is not None else None
        self._show_world(world if placed is not None else None, camera, t)
        floor = float(np.max(pose3d[:, 1]))  # the lowest joint stands on the grid
        pts = self.world_to_scene(placed) if placed is not None else self.to_scene(pose3d, floor)
        seg, colours = _bone_segments(pts, skeleton)
        self.bones.setData(pos=seg, color=colours)
        sizes = 8 + np.clip(np.nan_to_num(uncertainty, nan=0.0) / 8.0, 0, 16) if uncertainty is not None else 8
        self.joints.setData(pos=pts, size=sizes, color=np.array([SIDE_RGBA[int(s)] for s in skeleton.sides]))
        if comparison is not None and np.isfinite(comparison).all():
            shown = (self.world_to_scene(world.placed(comparison)) if placed is not None
                     else self.to_scene(comparison, floor))
            seg, _ = _bone_segments(shown, comparison_skeleton or skeleton)
            self.comparison.setData(pos=seg)
        else:
            self.comparison.setData(pos=np.zeros((0, 3)))
        self.legend.setVisible(len(self.comparison.pos) > 0)
        if resampled is not None and resampled.any():
            self.resampled.setData(pos=pts[resampled], size=18)
        else:
            self.resampled.setData(pos=np.zeros((0, 3)))

    def show_others(self, people: list[tuple[int, np.ndarray]], skeleton: Skeleton, world: bool = False) -> None:
        """The people not followed, each in their own colour: (id, pose in mm, already placed
        beside the followed one in its camera axes), each standing on the grid; with ``world``, poses
        placed in the world (Y up, mm), as the grounded followed one."""
        segments, colours = [], []
        for pid, pose in people:
            if np.isfinite(pose).all():
                shown = self.world_to_scene(pose) if world else self.to_scene(pose, float(np.max(pose[:, 1])))
                seg, _ = _bone_segments(shown, skeleton)
                segments.append(seg)
                colours.append(np.repeat([person_rgba(pid)], len(seg), axis=0))
        if segments:
            self.others.setData(pos=np.concatenate(segments), color=np.concatenate(colours))
        else:
            self.others.setData(pos=np.zeros((0, 3)))
