"""The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): an adaptive low-pass that smooths slow
motion hard and fast motion little, so jitter goes without adding lag to quick moves."""
from __future__ import annotations

import math

import numpy as np


class OneEuroFilter:
    """Filters arrays of any fixed shape over time. ``min_cutoff`` (Hz) sets the smoothing at rest,
    ``beta`` how quickly the cutoff rises with speed."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError(f"One-Euro settings min_cutoff={min_cutoff}, beta={beta}, d_cutoff={d_cutoff} "
                             f"are out of range: cutoffs must be > 0 and beta >= 0.")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        cutoff = self.min_cutoff
        if self.beta:  # without the speed term it is a plain first-order low-pass: the speed is not needed
            dx = (x - self._x) / dt
            self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
            cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()
