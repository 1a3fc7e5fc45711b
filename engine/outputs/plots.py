"""PNG plots of a clip for a quick look without other tools: joint angles over time, and the walk
seen from above (matplotlib, the ``plots`` extra). Frames without the person break every line (never
joined across, as if one person had walked on to where the next one appears) and are shaded grey on
the time axes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...models.opensim import missing_ranges, spans
from ...models.skeletons import H36M
from ..live.world import camera_position, has_world
from .clip import Clip, in_format
from .export import pose_angles

ANGLE_PANELS = (("hip_flexion", "hip flexion"), ("knee_flexion", "knee flexion"),
                ("shank_inclination", "shank inclination"), ("shoulder_flexion", "shoulder flexion"),
                ("elbow_flexion", "elbow flexion"), (("trunk_flexion", "pelvis_tilt"), "trunk flexion, pelvis tilt"))


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the plots need matplotlib: pip install 'poselift[plots]'.") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def shade_missing(ax, ranges: list[tuple[float, float]], fps: float) -> None:
    """Grey bands over the time ranges without the person (half a frame wider each side)."""
    for k, (a, b) in enumerate(ranges):
        ax.axvspan(a - 0.5 / fps, b + 0.5 / fps, color="0.85", zorder=0, label=None if k else "no person")


def write_plots(clip: Clip, out_dir: str | Path, stem: str) -> list[Path]:
    """``STEM_angles.png`` and, for a grounded clip, ``STEM_trajectory.png`` in ``out_dir``."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    world = has_world(clip)
    pose = in_format(clip, H36M, world)[0]
    angles = pose_angles(pose, world)
    pose = pose / 1000.0
    t = clip.timestamps  # the video's time, as the exports' notes name it
    missing = missing_ranges(np.isfinite(pose).all(axis=(1, 2)), t)
    without = f"; no person {spans(missing)} (grey)" if missing else ""
    fig, axes = plt.subplots(3, 2, figsize=(11, 8), sharex=True)
    for ax, (names, title) in zip(axes.ravel(), ANGLE_PANELS):
        shade_missing(ax, missing, clip.fps)
        if isinstance(names, tuple):
            for name in names:
                ax.plot(t, angles[name], label=name.replace("_", " "))
        else:
            ax.plot(t, angles[f"{names}_l"], color="tab:blue", label="left")
            ax.plot(t, angles[f"{names}_r"], color="tab:orange", label="right")
        ax.set_title(title)
        ax.set_ylabel("degrees")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time in the video (s)")
    fig.suptitle(f"{stem}: joint angles" + ("" if world else " (trunk and pelvis with the camera taken as level)")
                 + without)
    fig.tight_layout()
    paths = [out_dir / f"{stem}_angles.png"]
    fig.savefig(paths[0], dpi=90)
    plt.close(fig)
    if not world:
        return paths
    cam = camera_position(clip) / 1000.0
    fig, (top, side) = plt.subplots(1, 2, figsize=(11, 4.5))
    root, head_top = pose[:, H36M.index("pelvis")], pose[:, H36M.index("head_top")]
    top.plot(root[:, 0], root[:, 2], color="0.3", label="root (pelvis)")
    for foot, (joint, colour) in enumerate(((H36M.index("left_ankle"), "tab:blue"),
                                            (H36M.index("right_ankle"), "tab:orange"))):
        planted = clip.contacts[:, foot] if clip.contacts is not None else np.zeros(len(clip), bool)
        top.scatter(pose[planted, joint, 0], pose[planted, joint, 2], s=8, color=colour,
                    label=f"{('left', 'right')[foot]} foot planted")
    top.scatter([cam[0]], [cam[2]], marker="^", s=80, color="k", label="camera")
    top.set_aspect("equal", adjustable="datalim")
    top.set_xlabel("X (m)")
    top.set_ylabel("Z (m), towards the camera")
    top.set_title("from above")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    shade_missing(side, missing, clip.fps)
    side.plot(t, root[:, 1], label="root height")
    side.plot(t, head_top[:, 1], label="head top height")
    side.plot(t, np.linalg.norm(np.gradient(root[:, [0, 2]], t, axis=0), axis=-1), label="root speed (m/s)")
    side.set_xlabel("time in the video (s)")
    side.set_ylabel("m, m/s")
    side.set_title("height above the floor, speed")
    side.legend(fontsize=8)
    side.grid(alpha=0.3)
    fig.suptitle(f"{stem}: trajectory (subject height {clip.meta['world'].get('height_m', '?')} m){without}")
    fig.tight_layout()
    paths.append(out_dir / f"{stem}_trajectory.png")
    fig.savefig(paths[1], dpi=90)
    plt.close(fig)
    return paths
