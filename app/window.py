"""The main window: video + 2D overlay on the left, the 3D skeleton and the angle plot on the right,
controls above. It lays out and wires the parts (playback, recording, controls, the tuner) and draws
the results; inference runs on the worker's thread."""
from __future__ import annotations

import sys

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..engine.live.backends import BackendUnavailable
from ..engine.live.factory import PipelineOptions, build_pipeline
from ..engine.live.world import frame_angles
from ..engine.outputs.recorder import Recorder
from ..models.errors import WeightsError
from ..models.skeletons import H36M, MEDIAPIPE, convert, convert_confidence, convert_largest
from .angles import AnglePlot
from .controls import Controls
from .playback import Playback
from .recording import Recording
from .streaming import Streaming
from .tuning import PipelineTuner
from .views import SkeletonView, VideoView
from .worker import InferenceWorker


def make_application() -> QtWidgets.QApplication:
    """The QApplication, created with shared OpenGL contexts: pyqtgraph caches its shader programs
    across GL widgets, which is only valid when their contexts share resources."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setAttribute(QtCore.Qt.AA_ShareOpenGLContexts)
        app = QtWidgets.QApplication([sys.argv[0]])
        app.setApplicationName("poselift")
    return app


def placed_beside(anchor, other) -> np.ndarray:
    """``other``'s root-relative 3D moved sideways from ``anchor``'s by how far apart their pelvises
    are in the picture, at ``anchor``'s millimetres per pixel (3D size over 2D size): a layout for
    the view, not a measured position."""
    if other is anchor:
        return other.pose3d
    spread = lambda a: np.sqrt(((a - a.mean(0)) ** 2).sum(-1).mean())  # noqa: E731
    mm_per_px = spread(anchor.pose3d[:, :2]) / max(spread(anchor.keypoints), 1e-6)
    shift = (other.keypoints[0] - anchor.keypoints[0]) * mm_per_px
    return other.pose3d + [shift[0], 0.0, 0.0]


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, options: PipelineOptions | None = None, settings: QtCore.QSettings | None = None,
                 recorder: Recorder | None = None):
        super().__init__()
        self.setWindowTitle("poselift")
        self.setAcceptDrops(True)
        self.settings = settings or QtCore.QSettings("poselift", "poselift")
        self.options = options or PipelineOptions()
        self.last_error = ""
        self._shown: tuple | None = None  # (image, Result) on screen, redrawn when a toggle changes
        self.controls = Controls(self.options, self.settings)
        recorder = recorder or Recorder()
        self.worker: InferenceWorker | None = None
        self.tuner: PipelineTuner | None = None
        model_info = None
        try:
            pipeline, model_info = build_pipeline(self.controls.pipeline_options())
            self.worker = InferenceWorker(pipeline, recorder)
        except (WeightsError, BackendUnavailable, ValueError) as e:
            self.show_error(str(e))
        self.playback = Playback(self.worker, self.settings, self)
        self.recording = Recording(recorder, self.worker, model_info, self, self.controls.skeleton,
                                   lambda: self._shown[1].image_size if self._shown else None)
        self.streaming = Streaming(self.worker, self.settings, self)
        for part in (self.playback, self.recording, self.streaming):
            part.info.connect(self.show_info)
            part.failed.connect(self.show_error)
        self.playback.opened.connect(lambda name: self.setWindowTitle(f"poselift — {name}"))

        self.video = VideoView()
        self.skeleton = SkeletonView()
        self.angle_plot = AnglePlot()
        self._lay_out()
        self._wire_views()
        if self.worker is not None:
            self.worker.result_ready.connect(self._draw_latest)
            self.worker.failed.connect(self.show_error)
            self.tuner = PipelineTuner(self.worker, self.options, self.controls)
            self.tuner.failed.connect(self.show_error)
            self.tuner.apply_smoothing()
            self.tuner.apply_refinement()
        self._timer = QtCore.QTimer(self, interval=250, timeout=self._refresh_status)
        self._timer.timeout.connect(self.recording.show_progress)
        self._timer.start()
        QtCore.QTimer.singleShot(0, self.recording.offer_recovery)

    # ---- building -------------------------------------------------------------------------
    def _lay_out(self) -> None:
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        right.addWidget(self.skeleton)
        right.addWidget(self.angle_plot)
        right.setSizes([460, 180])
        split = QtWidgets.QSplitter()
        split.addWidget(self.video)
        split.addWidget(right)
        split.setSizes([640, 560])
        self.setCentralWidget(split)

        bar = self.addToolBar("controls")
        bar.setMovable(False)
        self.playback.add_to(bar)
        bar.addSeparator()
        self.recording.add_to(bar)
        bar.addSeparator()
        self.streaming.add_to(bar)
        bar.addSeparator()
        self.controls.add_to(bar)
        self.addAction(self.controls.overlay_key)

        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.playback.open_action)
        menu.addMenu(self.playback.recent_menu)
        menu.addAction(self.recording.export_action)
        menu.addSeparator()
        menu.addAction("Quit", self.close, QtGui.QKeySequence.Quit)

        self.fps_label = QtWidgets.QLabel("– fps")
        self.latency_label = QtWidgets.QLabel("latency –")
        self.dropped_label = QtWidgets.QLabel("dropped 0")
        self.backend_label = QtWidgets.QLabel("")
        for w in (self.fps_label, self.latency_label, self.dropped_label, self.backend_label):
            self.statusBar().addPermanentWidget(w)

    def _wire_views(self) -> None:
        """The view controls redraw the frame on screen."""
        c = self.controls
        self.video.overlay_visible = c.overlay_box.isChecked()
        self.skeleton.trail_visible = c.trail_box.isChecked()
        c.overlay_box.toggled.connect(lambda on: setattr(self.video, "overlay_visible", on))
        c.trail_box.toggled.connect(lambda on: setattr(self.skeleton, "trail_visible", on))
        for box in (c.overlay_box, c.trail_box, c.compare_box):
            box.toggled.connect(lambda _: self._redraw())
        c.format_box.currentTextChanged.connect(lambda _: self._redraw())
        c.reset_action.triggered.connect(self.skeleton.reset_view)
        self.video.clicked.connect(self.follow_at)

    # ---- input ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.playback.open_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    def follow_at(self, x: float, y: float) -> int | None:
        """Follow the person at (x, y) in the picture (image pixels); a click beside everyone goes
        back to following the most prominent person. Returns the id followed, None for automatic."""
        if self.tuner is None or self._shown is None:
            return None
        hits = []
        for person in self._shown[1].people:
            x0, y0, x1, y1 = person.mediapipe.box()
            pad = 0.15 * (y1 - y0)
            if x0 - pad <= x <= x1 + pad and y0 - pad <= y <= y1 + pad:
                hits.append((np.hypot(x - (x0 + x1) / 2, y - (y0 + y1) / 2), person.person_id))
        chosen = min(hits)[1] if hits else None
        self.tuner.follow(chosen)
        self.statusBar().showMessage(f"Following person {chosen}." if chosen is not None else
                                     "Following the most prominent person (click a person to follow them).", 5000)
        return chosen

    # ---- drawing --------------------------------------------------------------------------
    def _draw_latest(self) -> None:
        latest = self.worker.latest()
        if latest is None:
            return
        self._shown = latest
        result = latest[1]
        self._redraw(result.timestamp)
        self.angle_plot.add(result.timestamp, frame_angles(result.pose3d, result.world) if result.person else None)
        self.playback.show_position(result.timestamp)

    def _redraw(self, t: float | None = None) -> None:
        """Draw the frame on screen again; ``t`` when it is a new frame (it extends the trail)."""
        if self._shown is None:
            return
        image, result = self._shown
        skeleton = self.controls.skeleton()
        self.video.show_frame(image)
        if result.person:
            kp = convert(result.keypoints, H36M.name, skeleton.name)
            conf = convert_confidence(result.confidence, H36M.name, skeleton.name)
            pose = convert(result.pose3d, H36M.name, skeleton.name)
            sigma = convert_largest(result.uncertainty, H36M.name, skeleton.name)
            comparison = None
            if self.controls.compare_box.isChecked():
                mp3d = convert(result.mediapipe.world, MEDIAPIPE.name, H36M.name)
                comparison = convert(mp3d - mp3d[:1], H36M.name, skeleton.name)
            resampled = result.refined if skeleton is H36M else None
            self.video.show_overlay(kp, conf, skeleton)
            source = self.worker.source
            camera = self.worker.pipeline.camera_for(*result.image_size, source.lens_hfov_deg if source else None)
            self.skeleton.show_pose(pose, sigma, skeleton, comparison, skeleton, resampled, result.world, camera, t)
        else:
            self.video.show_overlay(None, None, skeleton)
            self.skeleton.show_pose(None, None, skeleton)
        self._draw_people(result, skeleton)

    def _draw_people(self, result, skeleton) -> None:
        """Everyone's id in the video; the people not followed in their colours, in 2D and in 3D
        beside the followed one (placed by where they stand in the picture)."""
        anchor = result if result.person else (result.people[0] if result.people else None)
        self.video.show_people([(p.person_id, convert(p.keypoints, H36M.name, skeleton.name),
                                 convert_confidence(p.confidence, H36M.name, skeleton.name), p is result)
                                for p in result.people], skeleton)
        grounded = result.person and result.world is not None and result.world.placed(result.pose3d) is not None
        others = []
        for p in result.people:
            placed = p.world.placed(p.pose3d) if grounded and p.world is not None else None
            if p is not result and (placed is not None or not grounded):  # grounded: each where they stand
                others.append((p.person_id, convert(placed if grounded else placed_beside(anchor, p), H36M.name,
                                                    skeleton.name)))
        self.skeleton.show_others(others, skeleton, world=grounded)

    def _refresh_status(self) -> None:
        if self.worker is None:
            return
        st = self.worker.stats()
        self.fps_label.setText(f"{st['fps']:.1f} fps")
        self.latency_label.setText(f"latency {st['latency_ms']:.0f} ms")
        self.dropped_label.setText(f"dropped {st['dropped']}")
        self.backend_label.setText(f"backend {st['backend']}")

    def show_info(self, message: str, milliseconds: int = 8000) -> None:
        """A message in the status bar in its normal colour (an earlier error left it red)."""
        self.statusBar().setStyleSheet("")
        self.statusBar().showMessage(message, milliseconds)

    def show_error(self, message: str) -> None:
        """One sentence, in the status bar (red) and in a dialog that does not block the stream."""
        self.last_error = message
        self.statusBar().setStyleSheet("color: #e05050;")
        self.statusBar().showMessage(message, 15000)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Warning, "poselift", message, parent=self)
        box.setModal(False)
        box.show()
        self.error_box = box

    # ---- closing --------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.recording.close()
        self.streaming.close()
        if self.worker is not None:
            self.worker.close()
        self.controls.save()
        super().closeEvent(event)
