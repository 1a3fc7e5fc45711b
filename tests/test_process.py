"""`poselift process` outputs: saved as they grow (a kill keeps a partial clip), never overwritten
unasked, a warning for a video with nobody in it, source pixels and an absolute source path in the clip."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import av
import numpy as np
import pytest

from conftest import DEMO, demo_segment, write_video
from poselift.engine.outputs.clip import Clip


def process(video, out, weights, *extra, cwd=None):
    cmd = [sys.executable, "-m", "poselift", "process", str(video), "-o", str(out),
           "--weights", str(weights), "--quiet", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def walker(tmp_path_factory):
    """The demo clip's first 30 frames at 640x360."""
    return demo_segment(tmp_path_factory.mktemp("video") / "walker.mp4", 30)


def test_earlier_outputs_are_kept_unless_forced_and_export_finds_the_video_from_anywhere(tmp_path, walker,
                                                                                        random_weights):
    out = tmp_path / "out"
    assert process(walker, out, random_weights).returncode == 0
    clip_path, video_path = out / "walker_3d.npz", out / "walker_3d.mp4"
    clip = Clip.load(clip_path)
    assert len(clip) == 30 and "partial" not in clip.meta
    assert clip.meta["source"] == str(walker.resolve())
    before = (clip_path.stat().st_mtime_ns, video_path.stat().st_mtime_ns)

    again = process(walker, out, random_weights)
    assert again.returncode == 2 and "already exist" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert (clip_path.stat().st_mtime_ns, video_path.stat().st_mtime_ns) == before
    assert process(walker, out, random_weights, "--force").returncode == 0
    assert clip_path.stat().st_mtime_ns != before[0]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    export = [sys.executable, "-m", "poselift", "export", str(clip_path), "-o", "a.mp4"]
    result = subprocess.run(export, capture_output=True, text=True, timeout=300, cwd=elsewhere)
    assert result.returncode == 0 and "not there" not in result.stdout
    with av.open(str(elsewhere / "a.mp4")) as rendered:
        left = next(rendered.decode(video=0)).to_ndarray(format="bgr24")[:, :1280]
    assert left.std() > 30  # the video's frames, not the flat grey drawn without them

    moved = walker.rename(tmp_path / "moved.mp4")
    try:
        result = subprocess.run(export[:-1] + ["b.mp4"], capture_output=True, text=True, timeout=300, cwd=elsewhere)
    finally:
        moved.rename(walker)
    assert result.returncode == 0 and f"The source video {walker.resolve()} is not there" in result.stdout
    assert "--video" in result.stdout


def test_scaled_processing_stores_source_pixels(tmp_path, walker, random_weights):
    assert process(walker, tmp_path / "full", random_weights, "--no-video").returncode == 0
    assert process(walker, tmp_path / "half", random_weights, "--no-video", "--width", "480").returncode == 0
    full, half = Clip.load(tmp_path / "full" / "walker_3d.npz"), Clip.load(tmp_path / "half" / "walker_3d.npz")
    assert (half.meta["camera"]["width"], half.meta["camera"]["height"]) == (640, 360)
    seen = (full.confidence > 0.5) & (half.confidence > 0.5)
    assert seen.sum() >= 17
    assert np.median(np.linalg.norm(full.keypoints - half.keypoints, axis=-1)[seen]) < 6  # px of the 640 frame


def test_a_video_with_nobody_in_it_says_so(tmp_path, random_weights):
    video = write_video(tmp_path / "empty.mp4", frames=12, size=(160, 120))
    result = process(video, tmp_path / "o", random_weights)
    assert result.returncode == 2 and "nobody was found in any of the 12 frames" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(Clip.load(tmp_path / "o" / "empty_3d.npz")) == 12  # kept, all gaps


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_keeps_a_partial_clip_that_loads(tmp_path, random_weights, how):
    out = tmp_path / "o"
    script = textwrap.dedent(f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started in the background
        from poselift.engine.live.factory import PipelineOptions, build_pipeline
        from poselift.engine.offline.process import process_video
        pipeline, info = build_pipeline(PipelineOptions(weights={str(random_weights)!r}))
        process_video({str(DEMO)!r}, {str(out)!r}, pipeline, info, render=False, progress=False, max_width=640,
                      save_every=0.3)
    """)
    run = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    clip_path = out / "walk_outdoor_3d.npz"
    deadline = time.monotonic() + 120
    while not clip_path.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, run.stderr.read()[-2000:]  # still running: the clip so far is on disk
    time.sleep(0.5)
    os.kill(run.pid, how)
    run.wait()
    if how == signal.SIGINT:  # Ctrl-C: the clip up to this frame is saved, and the run says so
        assert "the clip so far is kept" in run.stderr.read()
    clip = Clip.load(clip_path)
    assert clip.meta["partial"] is True and clip.meta["frames_expected"] == 230
    assert 0 < len(clip) < 230 and clip.meta["camera"]["width"] == 1768


def test_a_phone_video_is_processed_upright(tmp_path, random_weights):
    from test_sources import phone_video

    upright = np.full((128, 64, 3), 30, np.uint8)
    upright[:32] = 230
    video = phone_video(tmp_path / "phone.mp4", upright, 90, frames=4)
    assert process(video, tmp_path / "o", random_weights).returncode == 2  # nobody in it, but processed
    clip = Clip.load(tmp_path / "o" / "phone_3d.npz")
    assert (clip.meta["camera"]["width"], clip.meta["camera"]["height"]) == (64, 128)
    with av.open(str(tmp_path / "o" / "phone_3d.mp4")) as rendered:
        frame = next(rendered.decode(video=0)).to_ndarray(format="bgr24")
    left = frame[:, : frame.shape[0] // 2]  # the video half: 360 wide for 720 high
    assert left[:150].mean() > 180 and left[250:].mean() < 80  # the bright top stays on top


def test_following_an_id_nobody_has_says_which_ids_there_are_and_its_empty_clip_is_not_exported(tmp_path, walker,
                                                                                                 random_weights):
    out = tmp_path / "out"
    result = process(walker, out, random_weights, "--follow", "99", "--no-video")
    assert result.returncode == 2 and "nobody with id 99 was seen" in result.stderr and "ids seen: 0" in result.stderr
    assert "Traceback" not in result.stderr
    clip_path = out / "walker_3d.npz"
    assert len(Clip.load(clip_path)) == 30  # kept, as said
    export = subprocess.run([sys.executable, "-m", "poselift", "export", str(clip_path), "-o", str(tmp_path / "a.bvh")],
                            capture_output=True, text=True, timeout=300)
    assert export.returncode == 2 and "no frame with a pose" in export.stderr and "Traceback" not in export.stderr
    assert not (tmp_path / "a.bvh").exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path, walker, random_weights):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    result = process(walker, taken, random_weights)
    assert result.returncode == 2 and "is a file, not a folder" in result.stderr and "Traceback" not in result.stderr
    assert taken.read_text() == "mine"


def test_the_rendered_video_writes_each_person_s_id_above_them():
    from poselift.engine.outputs.render import draw_person_id
    image = np.zeros((360, 640, 3), np.uint8)
    keypoints = np.array([[300.0, 200.0], [320.0, 300.0]])
    labelled = draw_person_id(image, keypoints, 3)
    changed = np.argwhere(labelled.any(-1))
    assert len(changed) > 20 and changed[:, 0].max() < 200  # above the highest joint
    assert abs(changed[:, 1].min() - 300) < 10
    assert draw_person_id(image, np.full((2, 2), np.nan), 3) is image


def test_a_video_over_60_fps_is_said_to_be_lifted_at_a_trained_rate(tmp_path, random_weights):
    fast, plain = write_video(tmp_path / "fast.mp4", frames=8, fps=120), write_video(tmp_path / "plain.mp4", frames=8)
    said = {}
    for video in (fast, plain):
        done = subprocess.run([sys.executable, "-m", "poselift", "process", str(video), "-o", str(tmp_path / video.stem),
                               "--weights", str(random_weights), "--quiet", "--no-video"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and "nobody was found" in done.stderr  # blank frames
        said[video.stem] = done.stdout
    assert "120 fps: each person lifted as 2 interleaved streams of 60 fps" in said["fast"]
    assert "interleaved" not in said["plain"]


def test_a_whole_video_is_lifted_both_ways_unless_causal(tmp_path, walker, random_weights):
    assert process(walker, tmp_path / "both", random_weights, "--no-video").returncode == 0
    assert process(walker, tmp_path / "causal", random_weights, "--no-video", "--causal").returncode == 0
    both, causal = Clip.load(tmp_path / "both" / "walker_3d.npz"), Clip.load(tmp_path / "causal" / "walker_3d.npz")
    assert both.meta["model"]["two_way"] is True and causal.meta["model"]["two_way"] is False
    # The second pass replays the first's 2D: the same person's 2D, a lift that differs.
    seen = np.isfinite(causal.pose3d).all((1, 2)) & np.isfinite(both.pose3d).all((1, 2))
    assert seen.sum() >= 20
    np.testing.assert_allclose(both.keypoints[seen], causal.keypoints[seen])
    assert np.abs(both.pose3d[seen] - causal.pose3d[seen]).max() > 1.0
