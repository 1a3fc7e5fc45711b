"""Export of a lifter's streaming step (whatever its architecture) for other runtimes."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .lifter import IN_FEATURES


def step_io_names(states: int) -> tuple[list[str], list[str]]:
    state = [f"state{i}" for i in range(states)]
    return ["frame", *state], ["pose", "log_scale", *[f"next_{s}" for s in state]]


def export_onnx(model: torch.nn.Module, path: str | Path, streams: int = 1) -> Path:
    """Write the streaming step for ``streams`` streams (frame + per-layer state in, pose + log-scale +
    new state out) as ONNX."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    step = model.cpu().eval().step_module()
    state = step.initial_state(streams)
    rows = model.spec.num_joints + model.spec.root_features
    example = (torch.zeros(streams, rows * IN_FEATURES), *state)
    inputs, outputs = step_io_names(len(state))
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of one that needs onnxscript; this
        # small, static graph exports exactly with it and keeps the dependency list short.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(step, example, str(path), input_names=inputs, output_names=outputs,
                          opset_version=17, dynamo=False)
    return path
