"""The main window: video + 2D overlay on the left, the 3D skeleton on the right, controls above,
figures below. Everything here draws or dispatches; inference runs on the worker's thread."""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..engine.commands.options import MAX_PEOPLE
from ..engine.live.backends import BackendUnavailable, available_backends, make_backend
from ..engine.live.factory import PipelineOptions, build_pipeline, load_refiner
from ..engine.live.filters import OneEuroFilter
from ..engine.live.keypoints import MediaPipePose, MediaPipePoses
from ..engine.live.refine import StreamingRefiner
from ..engine.live.sources import SourceError, VideoFileSource, WebcamSource
from ..engine.live.world import frame_angles
from ..engine.offline.process import clip_meta, pixel_scale
from ..engine.outputs.export import FORMATS as EXPORT_FORMATS
from ..engine.outputs.export import ExportError, export_clip
from ..engine.outputs.recorder import Recorder, discard, find_unfinished, read_spool
from ..models.errors import WeightsError
from ..models.skeletons import (
    COCO,
    H36M,
    MEDIAPIPE,
    MPI_INF_3DHP,
    convert,
    convert_confidence,
    convert_largest,
)
from .views import AnglePlot, SkeletonView, VideoView
from .worker import InferenceWorker

FORMATS = {"H36M-17": H36M, "COCO-17": COCO, "MPI-INF-3DHP-17": MPI_INF_3DHP}
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v);;All files (*)"
MAX_RECENT = 8
BACKEND_TIPS = {"eager": "eager: PyTorch as written (CPU, or CUDA when chosen at start)",
                "compile": "compile: torch.compile, fused kernels (CUDA graphs on a GPU); a pause while it compiles",
                "onnx": "onnx: ONNX Runtime on the CPU",
                "tensorrt": "tensorrt: NVIDIA TensorRT, the fastest on an NVIDIA GPU"}


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


def webcam_indices() -> list[int]:
    """Cameras the system lists (/dev/video*), without opening them."""
    return sorted(int(p.name[5:]) for p in Path("/dev").glob("video*") if p.name[5:].isdigit())


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, options: PipelineOptions | None = None, settings: QtCore.QSettings | None = None,
                 recorder: Recorder | None = None):
        super().__init__()
        self.setWindowTitle("poselift")
        self.setAcceptDrops(True)
        self.settings = settings or QtCore.QSettings("poselift", "poselift")
        self.options = options or PipelineOptions()
        self.recorder = recorder or Recorder()
        self.last_error = ""
        self.last_spool: Path | None = None
        self.current_path: Path | None = None
        self.recovery_box: QtWidgets.QMessageBox | None = None
        self._duration = 0.0
        self._seeking = False
        self._shown: tuple | None = None  # (image, Result) on screen, redrawn when a toggle changes
        self._refiner: StreamingRefiner | None = None  # loaded the first time Refine is switched on
        # Before the controls: restoring saved toggles fires their handlers, which look for the worker.
        self.worker: InferenceWorker | None = None

        self.video = VideoView()
        self.skeleton = SkeletonView()
        self.video.clicked.connect(self.follow_at)
        self.angle_plot = AnglePlot()
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        right.addWidget(self.skeleton)
        right.addWidget(self.angle_plot)
        right.setSizes([480, 160])
        split = QtWidgets.QSplitter()
        split.addWidget(self.video)
        split.addWidget(right)
        split.setSizes([640, 560])
        self.setCentralWidget(split)
        self._build_controls()
        self._build_status()
        self._load_settings()

        try:
            pipeline, self.model_info = build_pipeline(self._options_from_controls())
            self.worker = InferenceWorker(pipeline, self.recorder)
            self.worker.result_ready.connect(self._draw_latest)
            self.worker.failed.connect(self.show_error)
            self.worker.ended.connect(self._source_ended)
        except (WeightsError, BackendUnavailable, ValueError) as e:
            self.show_error(str(e))
        self._apply_smoothing()
        self._apply_refinement()
        self._timer = QtCore.QTimer(self, interval=250, timeout=self._refresh_status)
        self._timer.start()
        QtCore.QTimer.singleShot(0, self.offer_recovery)

    # ---- building -------------------------------------------------------------------------
    def _build_controls(self) -> None:
        bar = self.addToolBar("controls")
        bar.setMovable(False)
        style = self.style()
        self.open_action = QtGui.QAction(style.standardIcon(QtWidgets.QStyle.SP_DialogOpenButton), "Open video…", self)
        self.open_action.setShortcut(QtGui.QKeySequence.Open)
        self.open_action.triggered.connect(self.choose_file)
        bar.addAction(self.open_action)
        self.webcam_box = QtWidgets.QComboBox(toolTip="Webcam")
        self._fill_webcams()
        self.webcam_box.activated.connect(self._webcam_chosen)
        bar.addWidget(self.webcam_box)
        bar.addSeparator()
        self.play_action = QtGui.QAction(style.standardIcon(QtWidgets.QStyle.SP_MediaPause), "Play/Pause", self)
        self.play_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key_Space))
        self.play_action.triggered.connect(self.toggle_play)
        bar.addAction(self.play_action)
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, minimumWidth=160, enabled=False)
        self.seek_slider.sliderPressed.connect(lambda: setattr(self, "_seeking", True))
        self.seek_slider.sliderReleased.connect(self._seek_released)
        bar.addWidget(self.seek_slider)
        bar.addSeparator()
        self.record_action = QtGui.QAction("● Record", self, checkable=True)
        self.record_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key_R))
        self.record_action.triggered.connect(self.toggle_record)
        bar.addAction(self.record_action)
        self.record_label = QtWidgets.QLabel("")
        self.record_label.setStyleSheet("color: #e03030; font-weight: bold; padding: 0 6px;")
        bar.addWidget(self.record_label)
        bar.addSeparator()
        self.overlay_box = QtWidgets.QCheckBox("2D overlay", checked=True)
        self.overlay_box.toggled.connect(self._overlay_toggled)
        bar.addWidget(self.overlay_box)
        self.smooth_box = QtWidgets.QCheckBox("Smoothing")
        self.smooth_box.toggled.connect(self._apply_smoothing)
        bar.addWidget(self.smooth_box)
        self.smooth_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, minimum=1, maximum=10, value=5,
                                               maximumWidth=90, toolTip="Smoothing strength")
        self.smooth_slider.valueChanged.connect(self._apply_smoothing)
        bar.addWidget(self.smooth_slider)
        self.format_box = QtWidgets.QComboBox(toolTip="Skeleton format")
        self.format_box.addItems(list(FORMATS))
        self.format_box.currentTextChanged.connect(lambda _: self._redraw())
        bar.addWidget(self.format_box)
        self.compare_box = QtWidgets.QCheckBox("MediaPipe 3D")
        self.compare_box.setToolTip("Show MediaPipe's own 3D (green) beside the lifted skeleton")
        self.compare_box.toggled.connect(lambda _: self._redraw())
        bar.addWidget(self.compare_box)
        self.people_box = QtWidgets.QComboBox(toolTip="How many people to follow: one is fastest; with more, "
                                                      "click a person in the video to follow them in 3D")
        for n in range(1, MAX_PEOPLE + 1):
            self.people_box.addItem("1 person" if n == 1 else f"{n} people", n)
        self.people_box.currentIndexChanged.connect(self._people_chosen)
        bar.addWidget(self.people_box)
        self.backend_box = QtWidgets.QComboBox(toolTip="How the 3D lifter runs (the same network and results; "
                                                       "the speed differs): hover an entry for what it is")
        for name in available_backends():
            self.backend_box.addItem(name)
            self.backend_box.setItemData(self.backend_box.count() - 1, BACKEND_TIPS[name], QtCore.Qt.ToolTipRole)
        self.backend_box.currentTextChanged.connect(self._backend_chosen)
        bar.addWidget(self.backend_box)
        self.refine_box = QtWidgets.QCheckBox("Refine")
        self.refine_box.toggled.connect(self._apply_refinement)
        bar.addWidget(self.refine_box)
        self.threshold_box = QtWidgets.QSpinBox(minimum=10, maximum=300, singleStep=10, suffix=" mm",
                                                value=int(self.options.refine_settings.threshold_mm),
                                                toolTip="Resample the joints at least this unsure (ringed in 3D)")
        self.threshold_box.valueChanged.connect(self._apply_refinement)
        bar.addWidget(self.threshold_box)
        if Path(self.options.refiner).is_file():
            self.refine_box.setToolTip("Diffusion refinement: resample the joints the lifter is unsure of")
        else:
            self.refine_box.setEnabled(False)
            self.threshold_box.setEnabled(False)
            self.refine_box.setToolTip(f"Diffusion refinement: the refiner weights {self.options.refiner} are missing")
        self.trail_box = QtWidgets.QCheckBox("Trail", checked=True, toolTip="The root's path over the last seconds")
        self.trail_box.toggled.connect(self._trail_toggled)
        bar.addWidget(self.trail_box)
        self.angle_box = QtWidgets.QComboBox(toolTip="The joint angle plotted under the 3D view")
        self.angle_box.addItems(list(AnglePlot.CHOICES))
        self.angle_box.currentTextChanged.connect(self.angle_plot.choose)
        bar.addWidget(self.angle_box)
        reset = QtGui.QAction("Reset view", self, shortcut=QtGui.QKeySequence(QtCore.Qt.Key_V))
        reset.triggered.connect(self.skeleton.reset_view)
        bar.addAction(reset)
        overlay_key = QtGui.QAction(self, shortcut=QtGui.QKeySequence(QtCore.Qt.Key_O))
        overlay_key.triggered.connect(self.overlay_box.toggle)
        self.addAction(overlay_key)

        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_action)
        self.recent_menu = menu.addMenu("Recent files")
        self.export_action = menu.addAction("Export last recording…", self.export_recording)
        self.export_action.setEnabled(False)
        menu.addSeparator()
        menu.addAction("Quit", self.close, QtGui.QKeySequence.Quit)

    def _build_status(self) -> None:
        self.fps_label = QtWidgets.QLabel("– fps")
        self.latency_label = QtWidgets.QLabel("latency –")
        self.dropped_label = QtWidgets.QLabel("dropped 0")
        self.backend_label = QtWidgets.QLabel("")
        for w in (self.fps_label, self.latency_label, self.dropped_label, self.backend_label):
            self.statusBar().addPermanentWidget(w)

    def _fill_webcams(self) -> None:
        self.webcam_box.clear()
        cams = webcam_indices()
        self.webcam_box.addItem("Webcam…" if cams else "no webcam found", None)
        for i in cams:
            self.webcam_box.addItem(f"Camera {i}", i)

    # ---- settings -------------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings
        self.overlay_box.setChecked(s.value("overlay", True, type=bool))
        self.smooth_box.setChecked(s.value("smoothing", False, type=bool))
        self.smooth_slider.setValue(s.value("smoothing_strength", 5, type=int))
        self.format_box.setCurrentText(s.value("skeleton", "H36M-17", type=str))
        self.compare_box.setChecked(s.value("comparison", False, type=bool))
        self.refine_box.setChecked(self.refine_box.isEnabled() and s.value("refine", False, type=bool))
        self.threshold_box.setValue(s.value("refine_threshold", self.threshold_box.value(), type=int))
        self.people_box.setCurrentIndex(min(max(s.value("people", self.options.people, type=int), 1), MAX_PEOPLE) - 1)
        backend = s.value("backend", self.options.backend, type=str)
        if backend in available_backends():
            self.backend_box.blockSignals(True)
            self.backend_box.setCurrentText(backend)
            self.backend_box.blockSignals(False)
        self._update_recent_menu()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("overlay", self.overlay_box.isChecked())
        s.setValue("smoothing", self.smooth_box.isChecked())
        s.setValue("smoothing_strength", self.smooth_slider.value())
        s.setValue("skeleton", self.format_box.currentText())
        s.setValue("comparison", self.compare_box.isChecked())
        s.setValue("refine", self.refine_box.isChecked())
        s.setValue("refine_threshold", self.threshold_box.value())
        s.setValue("backend", self.backend_box.currentText())
        s.setValue("people", self.people_box.currentData())
        s.sync()

    def _options_from_controls(self) -> PipelineOptions:
        return PipelineOptions(weights=self.options.weights, backend=self.backend_box.currentText(),
                               device=self.options.device, flip=self.options.flip, camera=self.options.camera,
                               hfov_deg=self.options.hfov_deg, people=self.people_box.currentData(),
                               world=self.options.world)

    def recent_files(self) -> list[str]:
        return [p for p in (self.settings.value("recent", [], type=list) or []) if p]

    def _remember(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(Path(p).name, lambda p=p: self.open_path(p)).setToolTip(p)
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ---- sources --------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Play a video file (paced at its own frame rate, no frame dropped)."""
        if self.worker is None:
            return False
        source = VideoFileSource(path, pace=True, queue_size=2, max_width=1280)
        try:
            source.start()
        except SourceError as e:
            self.show_error(str(e))
            return False
        self.current_path = Path(path)
        self._duration = source.duration
        self.seek_slider.setRange(0, max(1, int(source.duration * 10)))
        self.seek_slider.setValue(0)
        self.seek_slider.setEnabled(True)
        self.worker.open(source)
        self._remember(self.current_path)
        self._set_playing(True)
        self.setWindowTitle(f"poselift — {self.current_path.name}")
        return True

    def open_webcam(self, index: int) -> bool:
        if self.worker is None:
            return False
        source = WebcamSource(index)
        try:
            source.start()
        except SourceError as e:
            self.show_error(str(e))
            return False
        self.current_path = None
        self.seek_slider.setEnabled(False)
        self.worker.open(source)
        self._set_playing(True)
        self.setWindowTitle(f"poselift — camera {index}")
        return True

    def _webcam_chosen(self, row: int) -> None:
        index = self.webcam_box.itemData(row)
        if index is not None:
            self.open_webcam(index)

    def toggle_play(self) -> None:
        source = self.worker.source if self.worker else None
        if source is None:
            if self.current_path is not None:  # ended: play again from the start
                self.open_path(self.current_path)
            return
        if source.paused:
            source.resume()
        else:
            source.pause()
        self._set_playing(not source.paused)

    def _set_playing(self, playing: bool) -> None:
        icon = QtWidgets.QStyle.SP_MediaPause if playing else QtWidgets.QStyle.SP_MediaPlay
        self.play_action.setIcon(self.style().standardIcon(icon))

    def _seek_released(self) -> None:
        self._seeking = False
        source = self.worker.source if self.worker else None
        seconds = self.seek_slider.value() / 10
        if isinstance(source, VideoFileSource):
            source.seek(seconds)
            self.worker.call(self.worker.pipeline.reset)
        elif self.current_path is not None and self.open_path(self.current_path):
            self.worker.source.seek(seconds)

    def _source_ended(self) -> None:
        if self.worker and self.worker.source:
            self.worker.source.stop()
            self.worker.source = None
        self._set_playing(False)
        self.show_info("End of video: press Space to play it again.", 5000)

    # ---- drag and drop --------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    # ---- toggles --------------------------------------------------------------------------
    def _overlay_toggled(self, on: bool) -> None:
        self.video.overlay_visible = on
        self._redraw()

    def smoothing_cutoff(self) -> float | None:
        """One-Euro minimum cutoff in Hz: strength 1 (light, 5 Hz) .. 10 (strong, 0.5 Hz)."""
        return 5.5 - 0.5 * self.smooth_slider.value() if self.smooth_box.isChecked() else None

    def _apply_smoothing(self) -> None:
        if self.worker is None:
            return
        cutoff = self.smoothing_cutoff()
        pipeline = self.worker.pipeline
        self.worker.call(lambda: setattr(pipeline, "smoothing", OneEuroFilter(cutoff) if cutoff else None))

    def _apply_refinement(self) -> None:
        if self.worker is None:
            return
        on, threshold = self.refine_box.isChecked(), float(self.threshold_box.value())
        if on and self._refiner is None:
            try:
                settings = dataclasses.replace(self.options.refine_settings, threshold_mm=threshold)
                self._refiner = load_refiner(self.options.refiner, settings)
            except WeightsError as e:
                self.show_error(str(e))
                self.refine_box.setChecked(False)
                return
        refiner, pipeline = self._refiner, self.worker.pipeline

        def apply() -> None:
            if refiner is not None:
                refiner.settings.threshold_mm = threshold
                refiner.reset()
            pipeline.refiner = refiner if on else None

        self.worker.call(apply)

    def _people_chosen(self) -> None:
        if self.worker is None:
            return
        people = self.people_box.currentData()
        keypoints = MediaPipePoses(people) if people > 1 else MediaPipePose()
        pipeline = self.worker.pipeline

        def swap() -> None:
            old, pipeline.keypoints = pipeline.keypoints, keypoints
            pipeline.reset()
            old.close()

        self.worker.call(swap)

    def follow_at(self, x: float, y: float) -> int | None:
        """Follow the person at (x, y) in the picture (image pixels); a click beside everyone goes
        back to following the most prominent person. Returns the id followed, None for automatic."""
        if self.worker is None or self._shown is None:
            return None
        hits = []
        for person in self._shown[1].people:
            x0, y0, x1, y1 = person.mediapipe.box()
            pad = 0.15 * (y1 - y0)
            if x0 - pad <= x <= x1 + pad and y0 - pad <= y <= y1 + pad:
                hits.append((np.hypot(x - (x0 + x1) / 2, y - (y0 + y1) / 2), person.person_id))
        chosen = min(hits)[1] if hits else None
        pipeline = self.worker.pipeline
        self.worker.call(lambda: pipeline.follow(chosen))
        self.statusBar().showMessage(f"Following person {chosen}." if chosen is not None else
                                     "Following the most prominent person (click a person to follow them).", 5000)
        return chosen

    def _backend_chosen(self, name: str) -> None:
        if self.worker is None or not name:
            return
        try:
            backend = make_backend(name, self.worker.pipeline.lifter.model, self.options.device, self.options.flip)
        except BackendUnavailable as e:
            self.show_error(str(e))
            return
        pipeline = self.worker.pipeline

        def swap() -> None:
            pipeline.lifter = backend

        self.worker.call(swap)

    # ---- recording ------------------------------------------------------------------------
    def toggle_record(self) -> None:
        if self.recorder.recording:
            self.stop_recording()
        else:
            self.start_recording()

    def start_recording(self) -> None:
        if self.worker is None:
            self.record_action.setChecked(False)
            return
        source = self.worker.source
        fps = source.fps if source else 30.0
        if isinstance(source, VideoFileSource):  # 2D and camera in the file's own pixels, as process stores
            meta = clip_meta(source.path, source, self.worker.pipeline, self.model_info)
            self.recorder.start(fps, meta, pixel_scale(source))
        else:
            meta = {"model": self.model_info, "source": "webcam"}
            if self.worker.pipeline.world is not None:
                meta["world"] = self.worker.pipeline.world.to_dict()
            if self._shown is not None:
                meta["camera"] = self.worker.pipeline.camera_for(*self._shown[1].image_size).to_dict()
            self.recorder.start(fps, meta)
        self.record_action.setChecked(True)

    def stop_recording(self) -> Path | None:
        if not self.recorder.recording:
            return None
        self.last_spool = self.recorder.stop()
        self.record_action.setChecked(False)
        self.record_label.setText("")
        self.export_action.setEnabled(True)
        self.show_info(f"Recorded {self.recorder.frames} frames: File > Export last recording… to save them.")
        return self.last_spool

    def export_recording(self, path: str | Path | None = None) -> Path | None:
        """Export the last recording; the format follows the file's extension (asked for when no path
        is given), in the skeleton format shown. The recording itself stays until it is saved as npz."""
        if self.last_spool is None:
            return None
        if path is None:
            filters = ";;".join(f"{f.upper()} (*.{f})" for f in EXPORT_FORMATS)
            path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, "Export recording", "recording.npz", filters)
            if not path:
                return None
            if not Path(path).suffix:
                path += "." + chosen.split()[0].lower()
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower()
        skeleton = FORMATS[self.format_box.currentText()]
        try:
            clip = read_spool(self.last_spool)
            # The save dialog has asked about overwriting already.
            out, note = export_clip(clip, fmt, path, skeleton=skeleton.name, overwrite=True)
        except (ExportError, OSError, ValueError) as e:
            self.show_error(f"{e} The recording is kept.")
            return None
        if fmt == "npz" and skeleton is H36M:
            discard(self.last_spool)
            self.last_spool = None
            self.export_action.setEnabled(False)
        self.show_info(f"Saved {out}" + (f". {note}" if note else ""))
        return out

    def offer_recovery(self) -> None:
        """An unfinished recording from an earlier run (closed or crashed while recording)."""
        unfinished = [u for u in find_unfinished(self.recorder.root) if u.frames > 0]
        if not unfinished:
            return
        u = unfinished[-1]
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Question, "Unfinished recording",
                                    f"An unfinished recording was found ({u.describe()}). Keep it?", parent=self)
        keep = box.addButton("Keep for export", QtWidgets.QMessageBox.AcceptRole)
        box.addButton("Discard", QtWidgets.QMessageBox.DestructiveRole)
        box.addButton("Later", QtWidgets.QMessageBox.RejectRole)

        def answered(button) -> None:
            role = box.buttonRole(button)
            if button is keep:
                self.last_spool = u.path
                self.export_action.setEnabled(True)
            elif role == QtWidgets.QMessageBox.DestructiveRole:
                discard(u.path)

        box.buttonClicked.connect(answered)
        self.recovery_box = box
        box.show()

    # ---- drawing --------------------------------------------------------------------------
    def _draw_latest(self) -> None:
        latest = self.worker.latest() if self.worker else None
        if latest is None:
            return
        self._shown = latest
        result = latest[1]
        self._redraw(result.timestamp)
        self.angle_plot.add(result.timestamp, frame_angles(result.pose3d, result.world) if result.person else None)
        if self._duration and not self._seeking:
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(int(result.timestamp * 10))
            self.seek_slider.blockSignals(False)

    def _trail_toggled(self, on: bool) -> None:
        self.skeleton.trail_visible = on
        self._redraw()

    def _redraw(self, t: float | None = None) -> None:
        """Draw the frame on screen again; ``t`` when it is a new frame (it extends the trail)."""
        if self._shown is None:
            return
        image, result = self._shown
        skeleton = FORMATS[self.format_box.currentText()]
        self.video.show_frame(image)
        if result.person:
            kp = convert(result.keypoints, H36M.name, skeleton.name)
            conf = convert_confidence(result.confidence, H36M.name, skeleton.name)
            pose = convert(result.pose3d, H36M.name, skeleton.name)
            sigma = convert_largest(result.uncertainty, H36M.name, skeleton.name)
            comparison = None
            if self.compare_box.isChecked():
                mp3d = convert(result.mediapipe.world, MEDIAPIPE.name, H36M.name)
                comparison = convert(mp3d - mp3d[:1], H36M.name, skeleton.name)
            resampled = result.refined if skeleton is H36M else None
            self.video.show_overlay(kp, conf, skeleton)
            camera = self.worker.pipeline.camera_for(*result.image_size) if self.worker else None
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
        if self.recorder.recording:
            blink = "●" if int(time.monotonic() * 2) % 2 else "○"
            self.record_label.setText(f"{blink} REC {self.recorder.duration:5.1f} s · {self.recorder.frames} frames")
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
        if self.recorder.recording:  # kept on disk; offered again on the next start
            self.recorder.stop()
        if self.worker is not None:
            self.worker.close()
        self._save_settings()
        super().closeEvent(event)
