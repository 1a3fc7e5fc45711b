"""The refiner as a live stage: keeps the causal window of the lifter's recent output and refines
each new frame (the pipeline's ``Refiner``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...models.refiner import Denoiser, refine, stream_noise


@dataclass
class RefineSettings:
    # Defaults from the settings sweep in weights/refiner_w27.md (S9, measured with the earlier lifter
    # and refiner pair): one step is the posterior-mean estimate and scores best (more steps sample
    # around it: larger error); resampling more joints helps, and 30 mm still holds the surest.
    threshold_mm: float = 30.0  # joints at least this unsure are resampled; the rest are kept
    steps: int = 1  # DDIM steps
    hypotheses: int = 1  # samples combined by the per-joint median
    seed: int = 0


class StreamingRefiner:
    """``refiner(pose, uncertainty, rows2d)`` -> (refined pose, resampled-joint mask), one frame at a
    time. ``rows2d`` (J+1, 3) is the frame's ``window_2d``, the lifter's normalised input with the
    pelvis row. The settings may be changed between frames (the app's threshold slider)."""

    def __init__(self, model: Denoiser, settings: RefineSettings = RefineSettings()):
        self.model = model.eval()
        self.settings = settings
        self._noise_key: tuple[int, int] | None = None
        self._noise = torch.empty(0)
        self.reset()

    def reset(self) -> None:
        self._window: tuple[torch.Tensor, ...] | None = None

    @torch.no_grad()
    def __call__(self, pose: np.ndarray, uncertainty: np.ndarray, rows2d: np.ndarray | torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray]:
        frame = tuple(torch.as_tensor(a, dtype=torch.float32) for a in (pose, uncertainty, rows2d))
        w = self.model.spec.window
        if self._window is None:
            self._window = tuple(f[None].expand(w, *f.shape).clone() for f in frame)
        else:
            self._window = tuple(torch.cat([buf[1:], f[None]]) for buf, f in zip(self._window, frame))
        s = self.settings
        refined, mask = refine(self.model, *(buf[None] for buf in self._window), self._stream_noise(),
                               s.threshold_mm, s.steps)
        return refined[0].numpy().astype(np.float64), mask[0].numpy()

    def _stream_noise(self) -> torch.Tensor:
        key = (self.settings.hypotheses, self.settings.seed)
        if key != self._noise_key:
            self._noise, self._noise_key = stream_noise(self.model.spec, *key), key
        return self._noise
