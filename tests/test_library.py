"""A folder of videos: resumable processing, the summary, batched lifting, Ray."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import demo_cut, write_video
from poselift.engine.live.backends import make_backend
from poselift.engine.offline.batch_lift import BatchLifter, Track2D
from poselift.engine.outputs.clip import Clip
from poselift.engine.offline.library import Library, LibraryError, VideoRow, find_videos, looks_like_library
from poselift.models.checkpoint import load_weights
from poselift.models.lifter import normalize_2d

CLI = [sys.executable, "-m", "poselift"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Four 12-frame cuts of the demo clip, at different places in it."""
    root = tmp_path_factory.mktemp("videos")
    for n, start in enumerate((0, 40, 80, 120)):
        demo_cut(root / f"take{n}.mp4", start, frames=12)
    return root


def summary(out: Path) -> dict[str, dict]:
    return {Path(r["video"]).name: r for r in json.loads((out / "summary.json").read_text())["videos"]}


def test_batch_lifter_lifts_as_the_live_step(random_weights):
    model = load_weights(random_weights)
    rng = np.random.default_rng(1)
    streams = [normalize_2d(torch.tensor(rng.normal(0, 0.1, (n, 17, 2)), dtype=torch.float32), torch.rand(n, 17),
                            model.spec.root_features).numpy() for n in (20, 4, 33, 1, 9)]
    tracks = [Track2D([], streams[:2]), Track2D([], []), Track2D([], streams[2:])]
    for flip in (True, False):
        lifter = BatchLifter(model, flip=flip, max_streams=3)  # 10 or 5 streams, 3 per step
        lifter.FLUSH = 7  # outputs copied back part-way too
        lifted = lifter.lift(tracks)
        assert [len(x.poses) for x in lifted] == [2, 0, 3]
        got = [(p, u) for x in lifted for p, u in zip(x.poses, x.uncertainties)]
        for (pose, sigma), stream in zip(got, streams):
            live = make_backend("eager", model, flip=flip)
            expect = [live.step(x) for x in stream]
            np.testing.assert_allclose(pose, np.stack([p for p, _ in expect]), atol=1e-3)
            np.testing.assert_allclose(sigma, np.stack([s for _, s in expect]), rtol=1e-4)


def test_batch_lifter_two_way_lifts_a_stream_s_first_frames_from_their_future(random_weights):
    model = load_weights(random_weights)
    ramp = (model.context[0] + 1) // 2
    rng = np.random.default_rng(2)
    streams = [normalize_2d(torch.tensor(rng.normal(0, 0.1, (n, 17, 2)), dtype=torch.float32), torch.rand(n, 17),
                            model.spec.root_features).numpy() for n in (ramp + model.context[0] + 30, 1, 5)]
    # (the longest longer than the frames lifted backwards: the ramp's and their future's)
    [lifted] = BatchLifter(model, max_streams=2, two_way=True).lift([Track2D([], streams)])
    for pose, sigma, stream in zip(lifted.poses, lifted.uncertainties, streams):
        forwards, backwards = make_backend("eager", model), make_backend("eager", model)
        past = [np.stack(x) for x in zip(*[forwards.step(x) for x in stream])]  # pose, sigma
        future = [np.stack(x)[::-1] for x in zip(*[backwards.step(x) for x in stream[::-1]])]
        t = np.arange(len(stream))
        w = np.clip(1 - t / ramp, 0, 1)  # the future's weight: 1 at the first frame, 0 from the ramp's end
        np.testing.assert_allclose(pose, (1 - w[:, None, None]) * past[0] + w[:, None, None] * future[0], atol=1e-3)
        np.testing.assert_allclose(sigma, past[1] ** (1 - w[:, None]) * future[1] ** w[:, None], rtol=1e-4)
        if len(stream) > ramp:
            assert np.abs(pose[:3] - past[0][:3]).max() > 1.0  # the future counts at the start
            np.testing.assert_allclose(pose[ramp:], past[0][ramp:], atol=1e-3)  # the live lift after the ramp


def test_find_videos_refuses_empty_folders_and_name_clashes(tmp_path):
    (tmp_path / "notes.txt").write_text("no video here")
    with pytest.raises(LibraryError, match="holds no video files"):
        find_videos(tmp_path)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "run.mp4").write_bytes(b"")
    assert [p.parent.name for p in find_videos(tmp_path / "a")] == ["a"]
    with pytest.raises(LibraryError, match="would both write run_3d.npz"):
        find_videos(str(tmp_path / "**" / "*.mp4"))
    with pytest.raises(LibraryError, match="matches no files"):
        find_videos(str(tmp_path / "*.mov"))
    assert looks_like_library(tmp_path / "a") and looks_like_library(str(tmp_path / "*.mov"))
    assert not looks_like_library(tmp_path) and not looks_like_library(tmp_path / "a" / "run.mp4")


def test_a_done_marker_counts_for_its_own_video_and_settings_only(tmp_path):
    library = Library(tmp_path, {"model": "a"})
    first, namesake = tmp_path / "a" / "run.mp4", tmp_path / "b" / "run.mp4"
    (tmp_path / "run_3d.npz").write_bytes(b"clip")
    library.mark_done(first, VideoRow(str(first), "processed", clip=str(tmp_path / "run_3d.npz")))
    todo, done = library.plan([first], force=False)
    assert todo == [] and done[first].status == "done before"
    with pytest.raises(LibraryError, match="holds the clip of another video called run"):
        library.plan([namesake], force=False)
    with pytest.raises(LibraryError, match="processed with other settings"):
        Library(tmp_path, {"model": "b"}).plan([first], force=False)
    (tmp_path / "run_3d.npz").unlink()  # its clip gone: done no more
    assert library.plan([first], force=False) == ([first], {})


def test_a_folder_with_a_broken_video_is_processed_summarised_and_resumed(tmp_path, folder):
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("take0.mp4", "take1.mp4"):
        (videos / name).symlink_to(folder / name)
    (videos / "broken.mp4").write_bytes(b"this is not a video")
    write_video(videos / "empty.mp4", frames=10)  # a moving square: nobody in it
    out = tmp_path / "out"
    run = subprocess.run(CLI + ["process", str(videos), "-o", str(out), "--quiet"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2 and "1 of 4 videos failed" in run.stderr and "Traceback" not in run.stderr
    rows = summary(out)
    assert rows["broken.mp4"]["status"] == "failed" and "not a video file" in rows["broken.mp4"]["reason"]
    for name in ("take0", "take1"):
        row = rows[f"{name}.mp4"]
        assert row["status"] == "processed" and row["frames"] == 12 and row["frames_with_person"] >= 4
        assert row["people"] == 1 and row["video_fps"] == 30 and row["processing_fps"] > 0
        assert len(Clip.load(out / f"{name}_3d.npz")) == 12 and (out / f"{name}_3d.mp4").is_file()
    empty = rows["empty.mp4"]
    assert empty["status"] == "processed" and empty["people"] == 0 and "nobody was found" in empty["reason"]
    assert "| take0.mp4 | processed | 12 |" in run.stdout
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("video,status,frames,frames_with_person,people") and len(csv_lines) == 5

    again = subprocess.run(CLI + ["process", str(videos / "*.mp4"), "-o", str(out), "--quiet"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2
    rows = summary(out)
    assert [rows[n]["status"] for n in ("take0.mp4", "take1.mp4", "empty.mp4", "broken.mp4")] == \
        ["done before"] * 3 + ["failed"]

    other = subprocess.run(CLI + ["process", str(videos), "-o", str(out), "--quiet", "--no-flip"],
                           capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "processed with other settings" in other.stderr and "--force" in other.stderr


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_run_redoes_only_the_unfinished_videos(tmp_path, folder, stop):
    out = tmp_path / "out"
    cmd = CLI + ["process", str(folder), "-o", str(out), "--quiet", "--no-video"]
    # Ctrl-C as a terminal sends it: a test run started in the background inherits SIGINT ignored
    run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not any((out / "done").glob("*.json")) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(run.pid, stop)  # mid-way through the next video
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
        run.wait()
    done = {p.stem for p in (out / "done").glob("*.json")}
    if stop == signal.SIGINT:  # the whole run stops, in one sentence, with the summary of what is done
        assert run.returncode == 2 and err.splitlines()[-1].startswith("poselift process: interrupted with"), err[-2000:]
        assert "Traceback" not in err
        assert {Path(n).stem for n, r in summary(out).items() if r["status"] == "processed"} == done
    assert done and len(done) < 4, "the kill came after every video was done: the test proves nothing"
    kept = {name: (out / f"{name}_3d.npz").stat().st_mtime_ns for name in done}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = summary(out)
    assert {Path(n).stem for n, r in rows.items() if r["status"] == "done before"} == done
    assert {Path(n).stem for n, r in rows.items() if r["status"] == "processed"} == {f"take{i}" for i in range(4)} - done
    assert {name: (out / f"{name}_3d.npz").stat().st_mtime_ns for name in done} == kept  # not written again


@pytest.mark.parametrize("ray_here", ["raise ImportError('ray is not installed')\n", ""])
def test_workers_without_ray_say_how_to_install_it(tmp_path, folder, ray_here):
    """Ray missing, or a folder named ray (not Ray) first on the path: one sentence, nothing written."""
    blocker = tmp_path / "no_ray" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(ray_here)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(CLI + ["process", str(folder), "-o", str(tmp_path / "out"), "--workers", "2"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 2 and "pip install 'poselift[cluster]'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "done").exists()


def ray_or_skip():
    """Ray, or a skip. An import alone proves nothing: a folder named ``ray`` on the path (Ray's own session
    files in /tmp, beside a clone there) imports as an empty namespace package."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'poselift[cluster]' to run this test")
    if not hasattr(ray, "init"):
        pytest.skip(f"Ray is not installed ({list(ray.__path__)} is a folder named ray): pip install 'poselift[cluster]'")
    return ray


def test_a_cluster_address_nobody_answers_at_is_one_sentence(tmp_path, folder):
    ray_or_skip()
    run = subprocess.run(CLI + ["process", str(folder), "-o", str(tmp_path / "out"), "--address", "127.0.0.1:1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_bench_streams_reports_person_frames_per_second(random_weights):
    from poselift.engine.live.bench import bench_streams, format_streams_table

    rows = bench_streams(load_weights(random_weights), [1, 8], max_steps=20, seconds=0.05)
    assert [r["streams"] for r in rows] == [1, 8] and all(r["runs"] >= 10 for r in rows)
    for r in rows:
        assert r["person_frames_per_s"] == pytest.approx(r["streams"] * 1000 / r["median_ms"])
    assert "| cpu | eager | 8 |" in format_streams_table(rows)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = ray_or_skip()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_two_videos_on_a_local_ray_cluster_each_worker_lifting_or_one_batching_actor(tmp_path, folder, ray_cluster):
    from poselift.engine.offline.cluster import process_on_ray
    from poselift.engine.live.factory import PipelineOptions
    from poselift.engine.offline.library import Job, process_library

    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("take1.mp4", "take2.mp4"):
        (videos / name).symlink_to(folder / name)
    each = tmp_path / "each"
    rows, _ = process_library(videos, Job(each, PipelineOptions(), render=False), workers=2, progress=False)
    assert [r.status for r in rows] == ["processed"] * 2 and all(r.frames == 12 for r in rows)
    assert {p.stem for p in (each / "done").glob("*.json")} == {"take1", "take2"}

    batched = {}
    process_on_ray(sorted(videos.iterdir()), Job(tmp_path / "batched", PipelineOptions(), render=False),
                   lambda video, row: batched.__setitem__(video.name, row), batched=True)
    assert sorted(batched) == ["take1.mp4", "take2.mp4"] and all(r.status == "processed" for r in batched.values())
    for name in ("take1", "take2"):
        a, b = Clip.load(each / f"{name}_3d.npz"), Clip.load(tmp_path / "batched" / f"{name}_3d.npz")
        assert b.meta["model"]["backend"] == "batched" and np.isnan(a.pose3d).sum() == np.isnan(b.pose3d).sum()
        assert np.nanmax(np.abs(a.pose3d - b.pose3d)) < 1e-3  # the same poses, lifted in one batch


def test_batched_route_writes_what_each_worker_would_for_two_people(tmp_path, folder):
    from poselift.engine.offline.cluster import finish_video, track_2d
    from poselift.engine.live.factory import PipelineOptions
    from poselift.engine.offline.library import Job, process_one

    opts = PipelineOptions(people=2)
    video = folder / "take2.mp4"
    row = process_one(video, Job(tmp_path / "each", opts, render=False))
    assert row.status == "processed" and row.people >= 1
    track = track_2d(video, opts)
    [lifted] = BatchLifter(load_weights(opts.weights), two_way=not opts.causal).lift([track])
    report = finish_video(video, tmp_path / "batched", opts, track, lifted, render=False)
    assert len(report.person_clips) == row.people
    for each in sorted((tmp_path / "each").glob("*_3d.npz")):
        a, b = Clip.load(each), Clip.load(tmp_path / "batched" / each.name)
        assert np.isnan(a.pose3d).sum() == np.isnan(b.pose3d).sum()
        assert np.nanmax(np.abs(a.pose3d - b.pose3d)) < 1e-3
