"""Export of the lifter's streaming step for other runtimes."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .lifter import LifterStep, TemporalLifter


def step_io_names(model: TemporalLifter) -> tuple[list[str], list[str]]:
    layers = model.spec.levels
    state = [f"state{i}" for i in range(layers)]
    return ["frame", *state], ["pose", "log_scale", *[f"next_{s}" for s in state]]


def export_onnx(model: TemporalLifter, path: str | Path, streams: int = 1) -> Path:
    """Write the streaming step for ``streams`` streams (frame + per-layer state in, pose + log-scale +
    new state out) as ONNX."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    step = LifterStep(model.cpu().eval())
    example = (torch.zeros(streams, model.spec.in_channels), *step.initial_state(streams))
    inputs, outputs = step_io_names(model)
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of one that needs onnxscript; this
        # small, static graph exports exactly with it and keeps the dependency list short.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(step, example, str(path), input_names=inputs, output_names=outputs,
                          opset_version=17, dynamo=False)
    return path
