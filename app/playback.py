"""Where the frames come from: a video file (opened, dropped or recent) or a webcam, played, paused
and sought; the toolbar's source controls and the File menu's recent files."""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..engine.live.sources import SourceError, VideoFileSource, WebcamSource
from .panel import Panel
from .worker import InferenceWorker

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v);;All files (*)"
MAX_RECENT = 8


def webcam_indices() -> list[int]:
    """Cameras the system lists (/dev/video*), without opening them."""
    return sorted(int(p.name[5:]) for p in Path("/dev").glob("video*") if p.name[5:].isdigit())


class Playback(Panel):
    """Opens sources on the worker and plays them: Open (Ctrl+O), the webcam choice, Play/Pause
    (Space) and the seek slider, which follows the frames shown. ``opened`` names the source."""

    opened = QtCore.Signal(str)
    def __init__(self, worker: InferenceWorker | None, settings: QtCore.QSettings, window: QtWidgets.QWidget):
        super().__init__(window)
        self.worker = worker
        self.settings = settings
        self._window = window
        self.current_path: Path | None = None
        self._duration = 0.0
        self._seeking = False
        style = window.style()
        self.open_action = QtGui.QAction(style.standardIcon(QtWidgets.QStyle.SP_DialogOpenButton), "Open video…", self)
        self.open_action.setShortcut(QtGui.QKeySequence.Open)
        self.open_action.triggered.connect(self.choose_file)
        self.webcam_box = QtWidgets.QComboBox(toolTip="Webcam")
        cams = webcam_indices()
        self.webcam_box.addItem("Webcam…" if cams else "no webcam found", None)
        for i in cams:
            self.webcam_box.addItem(f"Camera {i}", i)
        self.webcam_box.activated.connect(self._webcam_chosen)
        self.play_action = QtGui.QAction(style.standardIcon(QtWidgets.QStyle.SP_MediaPause), "Play/Pause", self)
        self.play_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key_Space))
        self.play_action.triggered.connect(self.toggle_play)
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, minimumWidth=160, enabled=False)
        self.seek_slider.sliderPressed.connect(lambda: setattr(self, "_seeking", True))
        self.seek_slider.sliderReleased.connect(self._seek_released)
        self.recent_menu = QtWidgets.QMenu("Recent files", window)
        self._update_recent_menu()
        if worker is not None:
            worker.ended.connect(self._source_ended)

    def add_to(self, bar: QtWidgets.QToolBar) -> None:
        bar.addAction(self.open_action)
        bar.addWidget(self.webcam_box)
        bar.addSeparator()
        bar.addAction(self.play_action)
        bar.addWidget(self.seek_slider)

    def choose_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self._window, "Open video", "", VIDEO_FILTER)
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
            self.failed.emit(str(e))
            return False
        self.current_path = Path(path)
        self._duration = source.duration
        self.seek_slider.setRange(0, max(1, int(source.duration * 10)))
        self.seek_slider.setValue(0)
        self.seek_slider.setEnabled(True)
        self.worker.open(source)
        self._remember(self.current_path)
        self._set_playing(True)
        self.opened.emit(self.current_path.name)
        return True

    def open_webcam(self, index: int) -> bool:
        if self.worker is None:
            return False
        source = WebcamSource(index)
        try:
            source.start()
        except SourceError as e:
            self.failed.emit(str(e))
            return False
        self.current_path = None
        self.seek_slider.setEnabled(False)
        self.worker.open(source)
        self._set_playing(True)
        self.opened.emit(f"camera {index}")
        return True

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

    def show_position(self, t: float) -> None:
        """Move the seek slider to ``t`` (s) in the file, unless the user is dragging it."""
        if self._duration and not self._seeking:
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(int(t * 10))
            self.seek_slider.blockSignals(False)

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

    def _webcam_chosen(self, row: int) -> None:
        index = self.webcam_box.itemData(row)
        if index is not None:
            self.open_webcam(index)

    def _set_playing(self, playing: bool) -> None:
        icon = QtWidgets.QStyle.SP_MediaPause if playing else QtWidgets.QStyle.SP_MediaPlay
        self.play_action.setIcon(self._window.style().standardIcon(icon))

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
        if self.worker.source:
            self.worker.source.stop()
            self.worker.source = None
        self._set_playing(False)
        self.info.emit("End of video: press Space to play it again.", 5000)
