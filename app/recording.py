"""Recording: Record/Stop (R) with its blinking REC label, the spool of the last recording, its
export (File > Export last recording…), and the offer to keep an unfinished recording from an
earlier run."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..engine.live.sources import VideoFileSource
from ..engine.offline.process import clip_meta, pixel_scale
from ..engine.outputs.export import FORMATS as EXPORT_FORMATS
from ..engine.outputs.export import export_clip
from ..engine.outputs.recorder import Recorder, discard, find_unfinished, read_spool
from ..errors import UserError
from ..models.skeletons import H36M, Skeleton
from .panel import Panel
from .worker import InferenceWorker


class Recording(Panel):
    """Every result the worker makes while recording goes to ``recorder``'s crash-safe spool; the
    last spool stays until it is saved as an H36M-17 npz clip or discarded. ``skeleton`` gives the
    format exports are written in, ``frame_size`` the size of the frame on screen (None before the
    first), for a webcam recording's camera."""

    def __init__(self, recorder: Recorder, worker: InferenceWorker | None, model_info: dict | None,
                 window: QtWidgets.QWidget, skeleton: Callable[[], Skeleton],
                 frame_size: Callable[[], tuple[int, int] | None]):
        super().__init__(window)
        self.recorder = recorder
        self.worker = worker
        self.model_info = model_info
        self.last_spool: Path | None = None
        self.recovery_box: QtWidgets.QMessageBox | None = None
        self._window = window
        self._skeleton = skeleton
        self._frame_size = frame_size
        self.record_action = QtGui.QAction("● Record", self, checkable=True)
        self.record_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key_R))
        self.record_action.triggered.connect(self.toggle)
        self.record_label = QtWidgets.QLabel("")
        self.record_label.setStyleSheet("color: #e03030; font-weight: bold; padding: 0 6px;")
        self.export_action = QtGui.QAction("Export last recording…", self, enabled=False)
        self.export_action.triggered.connect(lambda: self.export())

    def add_to(self, bar: QtWidgets.QToolBar) -> None:
        bar.addAction(self.record_action)
        bar.addWidget(self.record_label)

    def toggle(self) -> None:
        if self.recorder.recording:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        if self.worker is None:
            self.record_action.setChecked(False)
            return
        source, pipeline = self.worker.source, self.worker.pipeline
        fps = source.fps if source else 30.0
        if isinstance(source, VideoFileSource):  # 2D and camera in the file's own pixels, as process stores
            meta = clip_meta(source.path, source, pipeline, self.model_info)
            self.recorder.start(fps, meta, pixel_scale(source))
        else:
            meta = {"model": self.model_info, "source": "webcam"}
            if pipeline.world is not None:
                meta["world"] = pipeline.world.to_dict()
            size = self._frame_size()
            if size is not None:
                meta["camera"] = pipeline.camera_for(*size).to_dict()
            self.recorder.start(fps, meta)
        self.record_action.setChecked(True)

    def stop(self) -> Path | None:
        if not self.recorder.recording:
            return None
        self.last_spool = self.recorder.stop()
        self.record_action.setChecked(False)
        self.record_label.setText("")
        self.export_action.setEnabled(True)
        self.info.emit(f"Recorded {self.recorder.frames} frames: File > Export last recording… to save them.", 8000)
        return self.last_spool

    def show_progress(self) -> None:
        """The REC label, blinking, with the time and frames recorded so far."""
        if self.recorder.recording:
            blink = "●" if int(time.monotonic() * 2) % 2 else "○"
            self.record_label.setText(f"{blink} REC {self.recorder.duration:5.1f} s · {self.recorder.frames} frames")

    def export(self, path: str | Path | None = None) -> Path | None:
        """Export the last recording; the format follows the file's extension (asked for when no path
        is given), in the skeleton format shown. The recording itself stays until it is saved as npz."""
        if self.last_spool is None:
            return None
        if path is None:
            filters = ";;".join(f"{f.upper()} (*.{f})" for f in EXPORT_FORMATS)
            path, chosen = QtWidgets.QFileDialog.getSaveFileName(self._window, "Export recording", "recording.npz",
                                                                 filters)
            if not path:
                return None
            if not Path(path).suffix:
                path += "." + chosen.split()[0].lower()
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower()
        skeleton = self._skeleton()
        try:
            clip = read_spool(self.last_spool)
            # The save dialog has asked about overwriting already.
            out, note = export_clip(clip, fmt, path, skeleton=skeleton.name, overwrite=True)
        except (UserError, OSError, ValueError) as e:  # FBX without Blender is a UserError too
            self.failed.emit(f"{e} The recording is kept.")
            return None
        if fmt == "npz" and skeleton is H36M:
            discard(self.last_spool)
            self.last_spool = None
            self.export_action.setEnabled(False)
        self.info.emit(f"Saved {out}" + (f". {note}" if note else ""), 8000)
        return out

    def offer_recovery(self) -> None:
        """An unfinished recording from an earlier run (closed or crashed while recording)."""
        unfinished = [u for u in find_unfinished(self.recorder.root) if u.frames > 0]
        if not unfinished:
            return
        u = unfinished[-1]
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Question, "Unfinished recording",
                                    f"An unfinished recording was found ({u.describe()}). Keep it?",
                                    parent=self._window)
        keep = box.addButton("Keep for export", QtWidgets.QMessageBox.AcceptRole)
        box.addButton("Discard", QtWidgets.QMessageBox.DestructiveRole)
        box.addButton("Later", QtWidgets.QMessageBox.RejectRole)

        def answered(button) -> None:
            if button is keep:
                self.last_spool = u.path
                self.export_action.setEnabled(True)
            elif box.buttonRole(button) == QtWidgets.QMessageBox.DestructiveRole:
                discard(u.path)

        box.buttonClicked.connect(answered)
        self.recovery_box = box
        box.show()

    def close(self) -> None:
        """Stop a recording in progress: its spool stays on disk and is offered on the next start."""
        if self.recorder.recording:
            self.recorder.stop()
