"""`poselift compare`: acceleration of two clips of one video and their worst frames."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import write_video
from poselift.engine.outputs.clip import Clip, ClipError
from poselift.engine.outputs.compare import acceleration, compare_clips, render_worst


def clip(frames: int = 20, spike_at: int | None = None) -> Clip:
    t = np.arange(frames)[:, None, None]
    pose = np.broadcast_to(np.linspace(-500, 500, 51)[:17, None] * np.ones(3), (frames, 17, 3)) + 5.0 * t
    pose = pose.astype(np.float32).copy()
    if spike_at is not None:
        pose[spike_at, 13] += 300.0  # a wrist jumps away for one frame, as a left/right swap does
    n = frames
    return Clip(pose, np.full((n, 17, 2), 30, np.float32), np.ones((n, 17), np.float32), np.full((n, 17), 50, np.float32),
                np.arange(n) / 25.0, 25.0)


def test_acceleration_finds_the_spike_and_compare_ranks_it_first():
    smooth, spiky = clip(), clip(spike_at=10)
    assert np.allclose(acceleration(smooth)[1:-1], 0, atol=1e-3) and np.isnan(acceleration(smooth)[[0, -1]]).all()
    report = compare_clips(spiky, smooth, worst=3)
    assert report["worst"][0]["frame"] == 10 and report["worst"][0]["first"] == pytest.approx(2 * 300 * np.sqrt(3) / 17, rel=1e-4)
    assert {w["frame"] for w in report["worst"]} == {9, 10, 11}
    assert report["first"]["spikes"] == 0 and report["first"]["max_accel"] > report["second"]["max_accel"]
    with pytest.raises(ClipError, match="compare two clips of the same video"):
        compare_clips(spiky, clip(frames=12))


def test_compare_command_draws_the_worst_frames(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=20, size=(96, 64))
    first, second = clip(spike_at=10), clip()
    first.save(tmp_path / "a.npz")
    second.save(tmp_path / "b.npz")
    png = render_worst(first, second, video, [10, 3], tmp_path / "w.png", height=120)
    assert cv2.imread(str(png)).shape[0] == 2 * 120
    result = subprocess.run([sys.executable, "-m", "poselift", "compare", str(tmp_path / "a.npz"),
                             str(tmp_path / "b.npz"), "--worst", "2", "--png", str(tmp_path / "c.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "pass it with --video" in result.stderr  # the clips name no source video
