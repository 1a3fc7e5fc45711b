"""The Python API: ``poselift.lift_video`` runs the pipeline of ``poselift process`` and returns the clip."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import demo_cut


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    """The demo clip's first 1.5 s (45 frames, 640 px wide): the man on the roof is in them."""
    return demo_cut(tmp_path_factory.mktemp("api") / "cut.mp4", 0, 45)


def test_import_is_light():
    """``import poselift`` loads neither torch nor MediaPipe: lift_video imports them when called."""
    code = "import sys, poselift; print(poselift.__version__, 'torch' in sys.modules, 'mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]


def test_lift_video_matches_process(cut, tmp_path):
    import poselift
    from poselift.engine.commands.main import main
    from poselift.engine.outputs.clip import Clip

    clip = poselift.lift_video(cut)
    assert isinstance(clip, Clip)
    assert len(clip) == 45 and clip.pose3d.shape == (45, 17, 3)
    with_person = ~np.isnan(clip.pose3d).any(axis=(1, 2))
    # The man on the roof, in most of them: the pipeline has him in 33-34, less the runs a garbled 2D
    # misplaced (his depth jumping between 7 m and 3 m), which process leaves out too: 20-29 remain,
    # depending on which runs a 0.7 m jitter of his depth over two frames makes look faster than anyone.
    assert with_person.sum() >= 18
    assert clip.meta["source"] == str(cut.resolve()) and clip.meta["model"]["weights"] == "lifter_tcn81.pt"
    assert not list(tmp_path.iterdir()) and not list(cut.parent.glob("*_3d.*"))  # nothing written

    assert main(["process", str(cut), "-o", str(tmp_path), "--no-video", "--quiet"]) == 0
    written = Clip.load(tmp_path / "cut_3d.npz")
    assert len(written) == len(clip)
    np.testing.assert_array_equal(np.isnan(written.pose3d), np.isnan(clip.pose3d))
    np.testing.assert_allclose(written.pose3d, clip.pose3d, atol=0.1, equal_nan=True)  # mm
    np.testing.assert_allclose(written.trajectory, clip.trajectory, atol=0.1, equal_nan=True)
