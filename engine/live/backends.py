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
from typing import Hashable

import numpy as np
import torch

from ...errors import UserError
from ...models.lifter import IN_FEATURES, average_with_mirror, expected_error, with_mirror

BACKENDS = ("eager", "compile", "onnx", "tensorrt")


class BackendUnavailable(UserError, RuntimeError):
    """The backend cannot run on this machine; the message says what is missing."""


class LifterBackend:
    """Streams one frame at a time: ``step(x)`` with the frame's network input (J, 3) returns the
    root-relative pose (J, 3) in mm and its per-joint uncertainty (J,) in mm. With ``flip`` the
    frame's mirror image runs as a second stream in the same call, and the two predictions are
    averaged.

    Several people are several streams, each with its own history, keyed by the caller (the pipeline
    keys a person's by their track id and phase): ``step_streams({key: x, ...})`` steps all of them in one batched call. A key seen for
    the first time starts a fresh window; ``release(key)`` ends one without touching the others."""

    name = "eager"

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True):
        self.device = torch.device(device)
        self.model = model
        self.spec = model.spec
        self.flip = flip
        self.module = model.cpu().eval().step_module().to(self.device)
        self.states: dict[Hashable, list[torch.Tensor]] = {}  # per stream key: each layer's cache

    @property
    def streams(self) -> int:
        """Network streams per person: the frame, and its mirror image with ``flip``."""
        return 2 if self.flip else 1

    def reset(self) -> None:
        """Forget every history: the next frames start new windows."""
        self.states.clear()

    def release(self, key: Hashable) -> None:
        """Forget one stream's history (its person has gone); the others carry on."""
        self.states.pop(key, None)

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.step_streams({0: x})[0]

    @torch.no_grad()
    def step_streams(self, inputs: dict[Hashable, np.ndarray]) -> dict[Hashable, tuple[np.ndarray, np.ndarray]]:
        keys = list(inputs)
        rows = torch.stack([torch.as_tensor(np.asarray(inputs[k], np.float32)).reshape(-1, IN_FEATURES)
                            for k in keys]).to(self.device)  # (P, J + 1, 3)
        s = self.streams
        frames = (with_mirror(rows).transpose(0, 1) if self.flip else rows[:, None]).flatten(2)  # (P, S, F)
        fresh = [i for i, k in enumerate(keys) if k not in self.states]
        if fresh:
            primed = self._prime(frames[fresh].flatten(0, 1))
            for n, i in enumerate(fresh):
                self.states[keys[i]] = [layer[n * s:(n + 1) * s] for layer in primed]
        state = [torch.cat(layers) for layers in zip(*(self.states[k] for k in keys))]
        pose, log_scale, *state = (torch.as_tensor(t) for t in self._run(frames.flatten(0, 1), state))
        for n, k in enumerate(keys):
            self.states[k] = [layer[n * s:(n + 1) * s] for layer in state]
        pose, log_scale = pose.unflatten(0, (len(keys), s)), log_scale.unflatten(0, (len(keys), s))
        if self.flip:
            pose, log_scale = average_with_mirror(pose.transpose(0, 1), log_scale.transpose(0, 1))
        else:
            pose, log_scale = pose[:, 0], log_scale[:, 0]
        pose, sigma = self._to_numpy(pose), self._to_numpy(expected_error(log_scale))
        return {k: (pose[n], sigma[n]) for n, k in enumerate(keys)}

    def _prime(self, frames: torch.Tensor) -> list[torch.Tensor]:
        return self.module.prime(frames)

    def _run(self, frames: torch.Tensor, state: list[torch.Tensor]):
        return self.module(frames, *state)

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
    """ONNX graphs have a fixed batch: one session per number of streams stepped together, exported
    the first time that many are (one person's, then two people's, ...)."""

    name = "onnx"

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True,
                 folder: str | Path | None = None):
        super().__init__(model, "cpu", flip)
        self._folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="poselift-onnx-"))
        self._sessions: dict[int, object] = {}
        self._session_for(self.streams)  # fails now, not on the first frame, if ONNX Runtime cannot load it

    def _session_for(self, batch: int):
        if batch not in self._sessions:
            import onnxruntime as ort

            from ...models.export import export_onnx

            path = export_onnx(self.model, self._folder / f"lifter_step_{batch}.onnx", batch)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self._sessions[batch] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return self._sessions[batch]

    def _run(self, frames, state):
        session = self._session_for(len(frames))
        names = [i.name for i in session.get_inputs()]
        return [torch.from_numpy(o) for o in session.run(None, dict(zip(names, [t.numpy() for t in (frames, *state)])))]


class TensorRTBackend(LifterBackend):
    """Compiled once per number of streams stepped together, as ONNX."""

    name = "tensorrt"

    def __init__(self, model: torch.nn.Module, device: str = "cuda", flip: bool = True):
        if importlib.util.find_spec("torch_tensorrt") is None:
            raise BackendUnavailable("the tensorrt backend needs torch-tensorrt, which is not installed: "
                                     "pip install 'poselift[tensorrt]' on a machine with an NVIDIA GPU, "
                                     "or choose --backend eager, compile or onnx.")
        if not torch.cuda.is_available():
            raise BackendUnavailable("the tensorrt backend needs an NVIDIA GPU, and torch sees none here: "
                                     "choose --backend eager, compile or onnx.")
        super().__init__(model, "cuda", flip)
        self._engines: dict[int, object] = {}
        self._engine_for(self.streams)

    def _engine_for(self, batch: int):
        if batch not in self._engines:
            import torch_tensorrt

            example = [torch.zeros(batch, (self.spec.num_joints + self.spec.root_features) * IN_FEATURES, device="cuda"),
                       *[s.cuda() for s in self.module.initial_state(batch)]]
            self._engines[batch] = torch_tensorrt.compile(self.module, ir="dynamo", inputs=example,
                                                          enabled_precisions={torch.float32})
        return self._engines[batch]

    def _run(self, frames, state):
        return self._engine_for(len(frames))(frames, *state)


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
