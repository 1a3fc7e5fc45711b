"""Left/right swap repair: the 2D front end that stops MediaPipe's label swaps before the lifter sees them.

MediaPipe now and then labels a left wrist, ankle or whole leg as the right one for a few frames. In
2D the joints then jump to each other's places from one frame to the next, which no limb does, while
a real crossing (legs passing in a side view, hands crossing) moves continuously. So each limb is
checked against where its joints were in the frame before: when a crossed assignment fits that far
better than MediaPipe's own, the labels are swapped back. A swap held for longer than MediaPipe's
swaps last is given up, so one wrong call cannot mislabel a stream for good.

A limb is swapped from one joint down to its end (the wrist, elbow and wrist, or the whole arm; the
ankle, knee and ankle, or the whole leg), as MediaPipe swaps them (``models.windows.SWAP_SETS``): an
elbow swapped without its wrist would cross both arm bones. Where the crossed labels also give the
bones into the swapped joints back their recent lengths, that counts for them, and against them where
they stretch the bones: when feet pass in profile, both assignments fit the last frame about as well,
and only the shin tells which ankle is whose.
"""
from __future__ import annotations

import numpy as np

from ...models.skeletons import H36M, LIMBS

PAIRS = H36M.limb_pairs  # (pairs, 2): each pair's (left, right) joints
LEFT, RIGHT = PAIRS.T
LIMB_PAIRS = np.arange(len(PAIRS)).reshape(len(LIMBS), -1)  # (limbs, joints): indices into PAIRS
_PARENT = np.maximum(H36M.parents, 0)  # the root as its own parent: a bone of length 0


class SwapRepair:
    """Repairs one person's H36M-17 2D stream, frame by frame (causal, no delay).

    ``min_gain``: how much better (fraction of the pose's 2D size) the crossed assignment must fit;
    ``max_s``: the longest swap repaired (seconds), after which MediaPipe's labels are accepted;
    ``memory``: the frames over which each bone's recent 2D length is taken (median).
    """

    def __init__(self, min_gain: float = 0.15, max_s: float = 1.0, memory: int = 10):
        self.min_gain, self.max_s, self.memory = min_gain, max_s, memory
        self.reset()

    def reset(self) -> None:
        """A new stream (the person was lost, or the source changed)."""
        self._last = np.zeros((0, 2))  # the last frame's repaired keypoints
        self._bones: list[np.ndarray] = []  # per frame: each joint's bone to its parent, / the pose's size
        self._since = np.full(len(PAIRS), np.nan)  # when each pair's swap being repaired began (s)

    def __call__(self, kp: np.ndarray, conf: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``kp`` (17, 2) pixels, ``conf`` (17,) at time ``t`` (s). Returns the repaired keypoints and
        confidence and the (17,) mask of joints whose labels were swapped back."""
        kp, conf = kp.copy(), conf.copy()
        size = np.sqrt(((kp - kp[:1]) ** 2).sum(-1).mean())
        swap = self._crossed(kp, size) if self._bones and size > 0 else np.zeros(len(PAIRS), bool)
        repaired = np.zeros(len(kp), bool)
        for p, (left, right) in enumerate(PAIRS):
            # (NaN while no swap is held; the 1 us keeps a swap lasting max_s to the frame at any rate)
            if swap[p] and not t - self._since[p] >= self.max_s - 1e-6:
                if np.isnan(self._since[p]):
                    self._since[p] = t
                kp[[left, right]], conf[[left, right]] = kp[[right, left]], conf[[right, left]]
                repaired[[left, right]] = True
            elif not swap[p]:
                self._since[p] = np.nan
        self._last = kp
        if size > 0:
            self._bones = (self._bones + [np.linalg.norm(kp - kp[_PARENT], axis=-1) / size])[-self.memory:]
        return kp, conf, repaired

    def _crossed(self, kp: np.ndarray, size: float) -> np.ndarray:
        """(pairs,) whether each pair's labels fit crossed: per limb, the swap from one joint down that
        fits best, if it fits well enough."""
        # Against where the joints were last, with no velocity: a velocity taken from a frame MediaPipe
        # garbled in part carries the garbling on and crosses the next, good frame's labels.
        last = self._last
        keep = np.linalg.norm(kp[LEFT] - last[LEFT], axis=-1) + np.linalg.norm(kp[RIGHT] - last[RIGHT], axis=-1)
        cross = np.linalg.norm(kp[LEFT] - last[RIGHT], axis=-1) + np.linalg.norm(kp[RIGHT] - last[LEFT], axis=-1)

        def from_each_joint_down(per_pair: np.ndarray) -> np.ndarray:  # (limbs, joints): the sum from there to the end
            return np.cumsum(per_pair[LIMB_PAIRS][:, ::-1], axis=1)[:, ::-1]

        fit = from_each_joint_down((keep - cross) / size) + self._bone_gain(kp, size)[LIMB_PAIRS]
        fits = (fit > self.min_gain) & (from_each_joint_down(cross) < 0.5 * from_each_joint_down(keep))
        swap = np.zeros(len(PAIRS), bool)
        for limb, top in enumerate(np.where(fits, fit, -np.inf).argmax(axis=1)):
            if fits[limb, top]:
                swap[LIMB_PAIRS[limb, top:]] = True
        return swap

    def _bone_gain(self, kp: np.ndarray, size: float) -> np.ndarray:
        """(pairs,) how much nearer their recent lengths (fraction of the pose's size) the bones into each
        pair's joints come with its labels crossed, their parents keeping theirs."""
        recent = np.median(self._bones, axis=0)
        to_left, to_right = kp[_PARENT[LEFT]], kp[_PARENT[RIGHT]]

        def off(at_left: np.ndarray, at_right: np.ndarray) -> np.ndarray:
            return (np.abs(np.linalg.norm(at_left - to_left, axis=-1) / size - recent[LEFT])
                    + np.abs(np.linalg.norm(at_right - to_right, axis=-1) / size - recent[RIGHT]))

        return off(kp[LEFT], kp[RIGHT]) - off(kp[RIGHT], kp[LEFT])
