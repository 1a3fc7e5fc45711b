"""`poselift compare`: two 3D clips of the same video, e.g. with and without a setting: how much their
3D shakes (per-frame acceleration), how often it spikes, and the frames where the first spikes worst,
drawn beside the second."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ...models.skeletons import H36M
from ..live.sources import VideoFileSource
from .clip import Clip, ClipError
from .render import compose

SPIKE_MM = 100.0  # a frame whose mean joint acceleration passes this is a visible jump


def acceleration(clip: Clip) -> np.ndarray:
    """Per frame, the mean joint acceleration of the root-relative 3D (mm/frame²), centred on the
    frame; NaN at the ends and where a neighbouring frame has no person."""
    acc = np.full(len(clip), np.nan)
    if len(clip) >= 3:
        second = clip.pose3d[2:] - 2 * clip.pose3d[1:-1] + clip.pose3d[:-2]
        acc[1:-1] = np.linalg.norm(second, axis=-1).mean(-1)
    return acc


def compare_clips(first: Clip, second: Clip, worst: int = 5) -> dict:
    """Mean and peak acceleration and spike counts of both clips, and the ``worst`` frames of the first."""
    if len(first) != len(second):
        raise ClipError(f"the clips have {len(first)} and {len(second)} frames: compare two clips of the same video.")
    a, b = acceleration(first), acceleration(second)
    both = np.isfinite(a) & np.isfinite(b)
    order = np.argsort(np.where(both, -a, np.inf))[:worst]

    def summary(acc: np.ndarray) -> dict:
        return {"mean_accel": float(acc[both].mean()), "max_accel": float(acc[both].max()),
                "spikes": int((acc[both] > SPIKE_MM).sum())}

    return {"frames": int(both.sum()), "first": summary(a), "second": summary(b),
            "worst": [{"frame": int(i), "first": float(a[i]), "second": float(b[i])} for i in order]}


def markdown(report: dict, names: tuple[str, str]) -> str:
    lines = [f"| | {names[0]} | {names[1]} |", "|---|---|---|"]
    for key, label in (("mean_accel", "mean acceleration (mm/frame²)"), ("max_accel", "peak acceleration (mm/frame²)"),
                       ("spikes", f"frames over {SPIKE_MM:g} mm/frame²")):
        lines.append(f"| {label} | {report['first'][key]:.1f} | {report['second'][key]:.1f} |")
    for w in report["worst"]:
        lines.append(f"| frame {w['frame']} | {w['first']:.1f} | {w['second']:.1f} |")
    return "\n".join(lines)


def render_worst(first: Clip, second: Clip, video: str | Path, frames: list[int], path: str | Path,
                 height: int = 240) -> Path:
    """A PNG with one row per frame: the first clip's video, overlay and 3D beside the second's."""
    wanted, rows = set(frames), {}
    source = VideoFileSource(video)
    source.start()
    try:
        for frame in source:
            if frame.index in wanted:
                rows[frame.index] = np.hstack([compose(frame.image, c.keypoints[frame.index], c.confidence[frame.index],
                                                       c.pose3d[frame.index], c.uncertainty[frame.index], H36M, height)
                                               for c in (first, second)])
            if len(rows) == len(wanted):
                break
    finally:
        source.stop()
    image = np.vstack([rows[i] for i in frames if i in rows])
    cv2.imwrite(str(path), image)
    return Path(path)
