"""The controls' choices applied to the running pipeline: smoothing, fusion, refinement, the people
followed and the lifter's backend, each changed between two frames on the worker's thread."""
from __future__ import annotations

import dataclasses

from PySide6 import QtCore

from ..engine.live.backends import BackendUnavailable, make_backend
from ..engine.live.factory import PipelineOptions, load_refiner
from ..engine.live.filters import OneEuroFilter
from ..engine.live.fusion import Fusion
from ..engine.live.keypoints import front_end
from ..engine.live.refine import StreamingRefiner
from ..models.errors import WeightsError
from .controls import Controls
from .worker import InferenceWorker


class PipelineTuner(QtCore.QObject):
    """Follows the controls: every change of a pipeline control reaches the worker's pipeline; a
    change that cannot be made is reported (``failed``) and, for refinement, switched back off."""

    failed = QtCore.Signal(str)

    def __init__(self, worker: InferenceWorker, options: PipelineOptions, controls: Controls):
        super().__init__()
        self.worker = worker
        self.options = options
        self.controls = controls
        self._refiner: StreamingRefiner | None = None  # loaded the first time Refine is switched on
        controls.smooth_box.toggled.connect(self.apply_smoothing)
        controls.smooth_slider.valueChanged.connect(self.apply_smoothing)
        controls.fusion_box.toggled.connect(self.apply_fusion)
        controls.refine_box.toggled.connect(self.apply_refinement)
        controls.threshold_box.valueChanged.connect(self.apply_refinement)
        controls.people_box.currentIndexChanged.connect(self._people_chosen)
        controls.backend_box.currentTextChanged.connect(self._backend_chosen)

    def apply_smoothing(self) -> None:
        cutoff = self.controls.smoothing_cutoff()
        pipeline = self.worker.pipeline
        self.worker.call(lambda: setattr(pipeline, "smoothing", OneEuroFilter(cutoff) if cutoff else None))

    def apply_fusion(self) -> None:
        fusion = Fusion(self.options.fusion_weighting) if self.controls.fusion_box.isChecked() else None
        pipeline = self.worker.pipeline
        self.worker.call(lambda: setattr(pipeline, "fusion", fusion))

    def apply_refinement(self) -> None:
        on, threshold = self.controls.refine_box.isChecked(), float(self.controls.threshold_box.value())
        if on and self._refiner is None:
            try:
                settings = dataclasses.replace(self.options.refine_settings, threshold_mm=threshold)
                self._refiner = load_refiner(self.options.refiner, settings)
            except WeightsError as e:
                self.failed.emit(str(e))
                self.controls.refine_box.setChecked(False)
                return
        refiner, pipeline = self._refiner, self.worker.pipeline

        def apply() -> None:
            if refiner is not None:
                refiner.settings.threshold_mm = threshold
                refiner.reset()
            pipeline.refiner = refiner if on else None

        self.worker.call(apply)

    def follow(self, person_id: int | None) -> None:
        """Follow ``person_id`` in 3D; None: the most prominent person."""
        pipeline = self.worker.pipeline
        self.worker.call(lambda: pipeline.follow(person_id))

    def _people_chosen(self) -> None:
        people = self.controls.people_box.currentData()
        keypoints = front_end(people)
        pipeline = self.worker.pipeline

        def swap() -> None:
            old, pipeline.keypoints = pipeline.keypoints, keypoints
            pipeline.people = people
            pipeline.reset()
            old.close()

        self.worker.call(swap)

    def _backend_chosen(self, name: str) -> None:
        if not name:
            return
        try:
            backend = make_backend(name, self.worker.pipeline.lifter.model, self.options.device, self.options.flip)
        except BackendUnavailable as e:
            self.failed.emit(str(e))
            return
        pipeline = self.worker.pipeline

        def swap() -> None:
            pipeline.lifter = backend

        self.worker.call(swap)
