"""Inference backends for the lifter's streaming step, chosen by name.

Each backend runs the step module the lifter's architecture provides (``model.step_module()``: for
the TCN :class:`~poselift.models.lifter.LifterStep`, batch norm folded; for the others
:class:`~poselift.models.nets.layers.CachedStep`), a frame and explicit state in, a pose and the new
state out, whatever the architecture: ``eager`` (torch, CPU or CUDA), ``compile`` (torch.compile; CUDA graphs on a GPU), ``onnx``
(ONNX Runtime on the CPU) and ``tensorrt`` (torch-tensorrt, an optional extra). A backend that
cannot run here says so in one sentence; nothing falls back silently.
"""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..models.lifter import IN_FEATURES, average_with_mirror, expected_error, with_mirror

BACKENDS = ("eager", "compile", "onnx", "tensorrt")


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine; the message says what is missing."""


class LifterBackend:
    """Streams one frame at a time: ``step(x)`` with the frame's network input (J, 3) returns the
    root-relative pose (J, 3) in mm and its per-joint uncertainty (J,) in mm. With ``flip`` the
    frame's mirror image runs as a second stream in the same call, and the two predictions are
    averaged."""

    name = "eager"

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True):
        self.device = torch.device(device)
        self.model = model
        self.spec = model.spec
        self.flip = flip
        self.module = model.cpu().eval().step_module().to(self.device)
        self.state: list | None = None

    @property
    def streams(self) -> int:
        return 2 if self.flip else 1

    def reset(self) -> None:
        """Forget the history: the next frame starts a new window."""
        self.state = None

    @torch.no_grad()
    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = torch.as_tensor(np.asarray(x, np.float32), device=self.device).reshape(-1, IN_FEATURES)
        frames = (with_mirror(rows) if self.flip else rows[None]).flatten(1)
        if self.state is None:
            self.state = self._prime(frames)
        pose, log_scale, *self.state = self._run(frames, self.state)
        pose, log_scale = torch.as_tensor(pose), torch.as_tensor(log_scale)
        pose, log_scale = average_with_mirror(pose, log_scale) if self.flip else (pose[0], log_scale[0])
        return self._to_numpy(pose), self._to_numpy(expected_error(log_scale))

    def _prime(self, frame: torch.Tensor) -> list:
        return self.module.prime(frame)

    def _run(self, frame, state):
        return self.module(frame, *state)

    @staticmethod
    def _to_numpy(t) -> np.ndarray:
        return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


class CompileBackend(LifterBackend):
    name = "compile"

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True):
        super().__init__(model, device, flip)
        mode = "reduce-overhead" if self.device.type == "cuda" else "default"  # CUDA graphs on a GPU
        self._compiled = torch.compile(self.module, mode=mode, fullgraph=True, dynamic=False)

    def _run(self, frame, state):
        out = self._compiled(frame, *state)
        return [o.clone() for o in out]  # CUDA-graph outputs are overwritten by the next replay


class OnnxBackend(LifterBackend):
    name = "onnx"

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True,
                 path: str | Path | None = None):
        super().__init__(model, "cpu", flip)
        import onnxruntime as ort

        from ..models.export import export_onnx

        if path is None:
            path = Path(tempfile.mkdtemp(prefix="poselift-onnx-")) / "lifter_step.onnx"
        export_onnx(model, path, self.streams)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def _prime(self, frame):
        return [s.numpy() for s in self.module.prime(frame)]

    def _run(self, frame, state):
        feed = dict(zip(self._inputs, [frame.numpy(), *state]))
        return self._session.run(None, feed)


class TensorRTBackend(LifterBackend):
    name = "tensorrt"

    def __init__(self, model: torch.nn.Module, device: str = "cuda", flip: bool = True):
        if importlib.util.find_spec("torch_tensorrt") is None:
            raise BackendUnavailable("the tensorrt backend needs torch-tensorrt, which is not installed: "
                                     "pip install 'poselift[tensorrt]' on a machine with an NVIDIA GPU, "
                                     "or choose --backend eager, compile or onnx.")
        if not torch.cuda.is_available():
            raise BackendUnavailable("the tensorrt backend needs an NVIDIA GPU, and torch sees none here: "
                                     "choose --backend eager, compile or onnx.")
        import torch_tensorrt

        super().__init__(model, "cuda", flip)
        rows = self.spec.num_joints + self.spec.root_features
        example = [torch.zeros(self.streams, rows * IN_FEATURES, device="cuda"),
                   *[s.cuda() for s in self.module.initial_state(self.streams)]]
        self._trt = torch_tensorrt.compile(self.module, ir="dynamo", inputs=example,
                                           enabled_precisions={torch.float32})

    def _run(self, frame, state):
        return self._trt(frame, *state)


def available_backends() -> list[str]:
    """Backends that can run on this machine (compile is listed; its first step compiles)."""
    names = ["eager", "compile"]
    if importlib.util.find_spec("onnxruntime") is not None:
        names.append("onnx")
    if importlib.util.find_spec("torch_tensorrt") is not None and torch.cuda.is_available():
        names.append("tensorrt")
    return names


def make_backend(name: str, model: torch.nn.Module, device: str | None = None, flip: bool = True) -> LifterBackend:
    """The backend called ``name`` running ``model``, on the CPU unless ``device`` says otherwise
    (one live step is too small to gain from a GPU; TensorRT always runs on one). ``flip`` also lifts
    the mirror image of every frame, in the same batched call, and averages the two (a more accurate
    pose for about 1.3x the cost of one stream)."""
    kinds = {"eager": LifterBackend, "compile": CompileBackend, "onnx": OnnxBackend, "tensorrt": TensorRTBackend}
    if name not in kinds:
        raise BackendUnavailable(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}.")
    if device is None:
        device = "cuda" if name == "tensorrt" else "cpu"
    if name != "tensorrt" and device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(f"device {device} was asked for, but torch sees no CUDA GPU here: use --device cpu.")
    return kinds[name](model, device, flip)
