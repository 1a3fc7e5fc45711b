"""Left/right swap repair: the 2D front end that stops MediaPipe's label swaps before the lifter sees them.

MediaPipe now and then labels a left wrist, ankle or whole leg as the right one for a few frames. In
2D the joints then jump to each other's places from one frame to the next, which no limb does, while
a real crossing (legs passing in a side view, hands crossing) moves continuously. So each left/right
pair is checked against where its two joints were heading: when the crossed assignment fits that
prediction far better than MediaPipe's own, the labels are swapped back. A swap held for longer than
MediaPipe's swaps last is given up, so one wrong call cannot mislabel a stream for good.
"""
from __future__ import annotations

import numpy as np

from ...models.skeletons import H36M

PAIRS = tuple((H36M.index(f"left_{n}"), H36M.index(f"right_{n}"))
              for n in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"))


class SwapRepair:
    """Repairs one person's H36M-17 2D stream, frame by frame (causal, no delay).

    ``min_gain``: how much better (fraction of the pose's 2D size) the crossed assignment must fit;
    ``max_frames``: the longest swap repaired (frames), after which MediaPipe's labels are accepted.
    """

    def __init__(self, min_gain: float = 0.15, max_frames: int = 30):
        self.min_gain, self.max_frames = min_gain, max_frames
        self.reset()

    def reset(self) -> None:
        """A new stream (the person was lost, or the source changed)."""
        self._history: list[np.ndarray] = []
        self._held = np.zeros(len(PAIRS), int)

    def __call__(self, kp: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``kp`` (17, 2) pixels, ``conf`` (17,). Returns the repaired keypoints and confidence and the
        (17,) mask of joints whose labels were swapped back."""
        kp, conf = kp.copy(), conf.copy()
        repaired = np.zeros(len(kp), bool)
        if self._history:
            prev = self._history[-1]
            # Half the last frame's velocity: MediaPipe's jitter makes a full constant-velocity guess overshoot.
            pred = prev + 0.5 * (prev - self._history[-2]) if len(self._history) > 1 else prev
            size = np.sqrt(((kp - kp[:1]) ** 2).sum(-1).mean())
            for p, (left, right) in enumerate(PAIRS):
                keep = np.linalg.norm(kp[left] - pred[left]) + np.linalg.norm(kp[right] - pred[right])
                cross = np.linalg.norm(kp[left] - pred[right]) + np.linalg.norm(kp[right] - pred[left])
                swapped = keep - cross > self.min_gain * size and cross < 0.5 * keep
                if swapped and self._held[p] < self.max_frames:
                    kp[[left, right]], conf[[left, right]] = kp[[right, left]], conf[[right, left]]
                    repaired[[left, right]] = True
                    self._held[p] += 1
                elif not swapped:
                    self._held[p] = 0
        self._history = (self._history + [kp])[-2:]
        return kp, conf, repaired
