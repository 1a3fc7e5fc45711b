"""The toolbar's switches and choices for the views and the pipeline, kept between runs. They hold
the user's choices; the window draws by them and the tuner applies them to the pipeline."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..engine.commands.options import MAX_PEOPLE
from ..engine.live.backends import available_backends
from ..engine.live.factory import PipelineOptions
from ..models.skeletons import COCO, H36M, MPI_INF_3DHP, Skeleton

FORMATS = {"H36M-17": H36M, "COCO-17": COCO, "MPI-INF-3DHP-17": MPI_INF_3DHP}
BACKEND_TIPS = {"eager": "eager: PyTorch as written (CPU, or CUDA when chosen at start)",
                "compile": "compile: torch.compile, fused kernels (CUDA graphs on a GPU); a pause while it compiles",
                "onnx": "onnx: ONNX Runtime on the CPU",
                "tensorrt": "tensorrt: NVIDIA TensorRT, the fastest on an NVIDIA GPU"}


class Controls:
    """Overlay, smoothing and its strength, skeleton format, fusion with MediaPipe's 3D, MediaPipe's 3D
    beside, People, backend, refinement and its threshold, trail, and resetting the 3D view (V); O toggles
    the overlay. Fusion starts as the command line says (on unless ``--no-fusion``)."""

    def __init__(self, options: PipelineOptions, settings: QtCore.QSettings):
        self.options = options
        self.settings = settings
        self.overlay_box = QtWidgets.QCheckBox("2D overlay", checked=True)
        self.smooth_box = QtWidgets.QCheckBox("Smoothing")
        self.smooth_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, minimum=1, maximum=10, value=5,
                                               maximumWidth=90, toolTip="Smoothing strength")
        self.format_box = QtWidgets.QComboBox(toolTip="Skeleton format")
        self.format_box.addItems(list(FORMATS))
        self.fusion_box = QtWidgets.QCheckBox("Fuse", checked=options.fusion)
        self.fusion_box.setToolTip("Fuse MediaPipe's own 3D into the lift (closer to the truth on real video); "
                                   "off: the lift alone")
        self.compare_box = QtWidgets.QCheckBox("MediaPipe 3D")
        self.compare_box.setToolTip("Show MediaPipe's own 3D (green) beside the lifted skeleton")
        self.people_box = QtWidgets.QComboBox(toolTip="How many people to follow: one is fastest; with more, "
                                                      "click a person in the video to follow them in 3D")
        for n in range(1, MAX_PEOPLE + 1):
            self.people_box.addItem("1 person" if n == 1 else f"{n} people", n)
        self.backend_box = QtWidgets.QComboBox(toolTip="How the 3D lifter runs (the same network and results; "
                                                       "the speed differs): hover an entry for what it is")
        for name in available_backends():
            self.backend_box.addItem(name)
            self.backend_box.setItemData(self.backend_box.count() - 1, BACKEND_TIPS[name], QtCore.Qt.ToolTipRole)
        self.refine_box = QtWidgets.QCheckBox("Refine")
        self.threshold_box = QtWidgets.QSpinBox(minimum=10, maximum=300, singleStep=10, suffix=" mm",
                                                value=int(options.refine_settings.threshold_mm),
                                                toolTip="Resample the joints at least this unsure (ringed in 3D)")
        if Path(options.refiner).is_file():
            self.refine_box.setToolTip("Diffusion refinement: resample the joints the lifter is unsure of")
        else:
            self.refine_box.setEnabled(False)
            self.threshold_box.setEnabled(False)
            self.refine_box.setToolTip(f"Diffusion refinement: the refiner weights {options.refiner} are missing")
        self.trail_box = QtWidgets.QCheckBox("Trail", checked=True, toolTip="The root's path over the last seconds")
        self.reset_action = QtGui.QAction("Reset view", shortcut=QtGui.QKeySequence(QtCore.Qt.Key_V))
        self.overlay_key = QtGui.QAction(shortcut=QtGui.QKeySequence(QtCore.Qt.Key_O))
        self.overlay_key.triggered.connect(self.overlay_box.toggle)
        self._load()

    def add_to(self, bar: QtWidgets.QToolBar) -> None:
        for widget in (self.overlay_box, self.smooth_box, self.smooth_slider, self.format_box, self.fusion_box,
                       self.compare_box,
                       self.people_box, self.backend_box, self.refine_box, self.threshold_box, self.trail_box):
            bar.addWidget(widget)
        bar.addAction(self.reset_action)

    def skeleton(self) -> Skeleton:
        return FORMATS[self.format_box.currentText()]

    def choose(self, people: int | None, smooth_hz: float | None) -> None:
        """Start with these choices instead of the last run's (None: keep that one); a smoothing cutoff
        takes the nearest of the slider's strengths."""
        if people is not None:
            self.people_box.setCurrentIndex(people - 1)
        if smooth_hz is not None:
            self.smooth_box.setChecked(True)
            self.smooth_slider.setValue(int(np.clip(round((5.5 - smooth_hz) / 0.5), 1, 10)))

    def smoothing_cutoff(self) -> float | None:
        """One-Euro minimum cutoff in Hz: strength 1 (light, 5 Hz) .. 10 (strong, 0.5 Hz)."""
        return 5.5 - 0.5 * self.smooth_slider.value() if self.smooth_box.isChecked() else None

    def pipeline_options(self) -> PipelineOptions:
        """The options the pipeline starts with: those given, with the backend and people chosen here."""
        return dataclasses.replace(self.options, backend=self.backend_box.currentText(),
                                   people=self.people_box.currentData(), fusion=self.fusion_box.isChecked())

    def _load(self) -> None:
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
            self.backend_box.setCurrentText(backend)

    def save(self) -> None:
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
