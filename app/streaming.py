"""The Stream switch: the followed person sent live, while the window plays, to the targets written
beside it (``vmc://HOST:PORT`` for VMC receivers, ``ws://HOST:PORT`` served for web pages; several,
separated by spaces). A target that cannot be used, or that fails mid-stream, is one sentence in the
status bar; the window, the other targets and any recording go on."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..engine.outputs.stream import Streamer
from ..engine.outputs.targets import StreamError, Target, parse_target
from .panel import Panel
from .worker import InferenceWorker

DEFAULT_TARGETS = "vmc://127.0.0.1:39539"


class Streaming(Panel):
    def __init__(self, worker: InferenceWorker | None, settings: QtCore.QSettings, window: QtWidgets.QWidget):
        super().__init__(window)
        self.worker = worker
        self.settings = settings
        self.streamer: Streamer | None = None
        self.switch = QtWidgets.QCheckBox("Stream", enabled=worker is not None,
                                          toolTip="Send the followed person live to the targets beside: VSeeFace, "
                                                  "Warudo, VMC4B (Blender), EVMC4U (Unity) or a web page")
        self.targets_edit = QtWidgets.QLineEdit(settings.value("stream_targets", DEFAULT_TARGETS, type=str),
                                                minimumWidth=170, placeholderText=DEFAULT_TARGETS,
                                                toolTip="vmc://HOST:PORT sends the VMC protocol to a receiver "
                                                        "there (39539: theirs by default); ws://HOST:PORT serves "
                                                        "JSON to web pages there; several, separated by spaces")
        self.switch.toggled.connect(self._switched)
        self.targets_edit.editingFinished.connect(self._targets_edited)

    def add_to(self, bar: QtWidgets.QToolBar) -> None:
        bar.addWidget(self.switch)
        bar.addWidget(self.targets_edit)

    def start_with(self, targets: list[Target]) -> None:
        """Stream to ``targets`` from the start (``poselift-app --stream URL``)."""
        self.targets_edit.setText(" ".join(map(str, targets)))
        self.switch.setChecked(True)

    def _switched(self, on: bool) -> None:
        if on:
            self._start()
        else:
            self._stop()

    def _targets_edited(self) -> None:
        self.settings.setValue("stream_targets", self.targets_edit.text().strip())
        if self.streamer is not None:  # the new targets take over
            self._stop()
            self._start()

    def _start(self) -> None:
        try:
            targets = [parse_target(url) for url in self.targets_edit.text().split()]
            if not targets:
                raise StreamError(f"no stream target is given: write one beside the switch, e.g. {DEFAULT_TARGETS}.")
            self.streamer = Streamer(targets, report=self.failed.emit)  # a target's thread: the signal is queued
        except StreamError as e:
            self.failed.emit(str(e))
            self.switch.setChecked(False)
            return
        self.worker.streamer = self.streamer
        self.info.emit(f"Streaming the followed person to {', '.join(map(str, targets))}.", 5000)

    def _stop(self) -> None:
        streamer, self.streamer = self.streamer, None
        if streamer is not None:
            self.worker.streamer = None
            streamer.close()

    def close(self) -> None:
        self._stop()
