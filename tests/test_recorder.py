import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from poselift.engine.outputs.clip import Clip
from poselift.engine.outputs.recorder import RECORD, Recorder, finalize, find_unfinished, read_spool


def test_killed_recording_loses_at_most_the_last_second(tmp_path):
    """A process recording 100 results a second is killed; the spool holds all but the last second."""
    script = textwrap.dedent(f"""
        import time, numpy as np
        from poselift.engine.live.keypoints import Keypoints
        from poselift.engine.live.pipeline import Result
        from poselift.engine.outputs.recorder import Recorder
        rec = Recorder({str(tmp_path)!r}, flush_seconds=0.2)
        rec.start(100.0, {{"source": "test"}})
        i = 0
        while True:
            r = Result(i, i / 100, 0.0, 0.0, (640, 360), True, np.zeros((17, 2)), np.ones(17),
                       np.full((17, 3), float(i)), np.full(17, 20.0), Keypoints.empty())
            rec.append(r)
            print(i, flush=True)
            i += 1
            time.sleep(0.01)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    last = -1
    start = time.monotonic()
    while last < 300 and time.monotonic() - start < 120:  # by count: a loaded machine imports slowly
        last = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [unfinished] = find_unfinished(tmp_path)
    clip = read_spool(unfinished.path)
    assert last - len(clip) < 100  # at most one second (100 results) lost
    assert len(clip) > 100 and clip.fps == 100 and clip.meta["source"] == "test"
    assert np.allclose(clip.pose3d[:, 0, 0], np.arange(len(clip)))  # in order, none skipped


def test_torn_record_is_ignored_and_finalise_is_atomic_and_careful(tmp_path):
    from poselift.engine.live.keypoints import Keypoints
    from poselift.engine.live.pipeline import Result
    rec = Recorder(tmp_path / "spool")
    spool = rec.start(30.0)
    for i in range(10):
        rec.append(Result(i, i / 30, 0, 0, (64, 64), i != 4, np.zeros((17, 2)), np.ones(17),
                          np.full((17, 3), np.nan if i == 4 else i, float), np.full(17, 9.0), Keypoints.empty(),
                          refined=np.arange(17) == i))
    assert rec.frames == 10 and rec.duration == pytest.approx(9 / 30)
    rec.stop()
    with open(spool / "frames.f32", "ab") as f:  # half a record, as a crash mid-write leaves
        f.write(np.zeros(RECORD // 2, np.float32).tobytes())
    assert find_unfinished(tmp_path / "spool")[0].frames == 10
    taken = tmp_path / "take.npz"
    taken.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        finalize(spool, taken)
    assert taken.read_bytes() == b"keep me" and spool.exists()
    out = finalize(spool, tmp_path / "new.npz")
    clip = Clip.load(out)
    assert len(clip) == 10 and np.isnan(clip.pose3d[4]).all() and not spool.exists()
    assert (clip.refined == (np.arange(17) == np.arange(10)[:, None])).all()
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_recording_from_before_the_refined_joints_still_finalises(tmp_path):
    import json

    from poselift.engine.outputs.recorder import FIELDS
    old = sum(int(np.prod(shape)) for _, shape in FIELDS[:-7])  # no refined joints, no world
    spool = tmp_path / "rec-old"
    spool.mkdir()
    (spool / "header.json").write_text(json.dumps({"fps": 25.0, "started": 1.0, "record_floats": old, "meta": {}}))
    rows = np.zeros((3, old), np.float32)
    rows[:, 0] = [0.0, 0.04, 0.08]
    rows[:, 2:2 + 51] = 7.0  # pose3d follows the timestamp and the person flag
    rows.tofile(spool / "frames.f32")
    assert FIELDS[-7][0] == "refined" and find_unfinished(tmp_path)[0].frames == 3
    clip = read_spool(spool)
    assert len(clip) == 3 and (clip.pose3d == 7.0).all() and clip.refined is None and clip.trajectory is None


def test_recordings_store_2d_in_the_sources_pixels(tmp_path):
    """The pipeline sees frames scaled down; the recording's 2D is in the video's own pixels."""
    from poselift.engine.live.keypoints import Keypoints
    from poselift.engine.live.pipeline import Result
    rec = Recorder(tmp_path)
    rec.start(30.0, {"camera": {"width": 1768, "height": 994}}, pixel_scale=(1768 / 1280, 994 / 720))
    kp = np.tile([[640.0, 360.0]], (17, 1))
    rec.append(Result(0, 0.0, 0.0, 0.0, (1280, 720), True, kp, np.ones(17), np.zeros((17, 3)), np.full(17, 20.0),
                      Keypoints.empty()))
    clip = read_spool(rec.stop())
    assert np.allclose(clip.keypoints[0], [884.0, 497.0], atol=1e-3)  # the centre of the 1768 x 994 video


def test_a_recording_keeps_the_world_and_exports_root_motion(tmp_path):
    from poselift.calibration.floor import Ground, up_from_tilt
    from poselift.engine.live.keypoints import Keypoints
    from poselift.engine.live.pipeline import Result
    from poselift.engine.live.world import WorldFrame, has_world, world_pose
    rec = Recorder(tmp_path)
    rec.start(30.0, {"world": {"height_m": 1.7}})
    floors = [None, Ground(tuple(up_from_tilt(12.0)), 1500.0), Ground(tuple(up_from_tilt(10.0)), 1600.0)]
    for f in range(6):
        world = WorldFrame(np.array([100.0 * f, 0.0, 4000.0]), 1.05, floors[min(f, 2)], np.array([f % 2 == 0, True]))
        rec.append(Result(f, f / 30, 0.0, 0.0, (640, 480), True, np.zeros((17, 2)), np.ones(17),
                          np.zeros((17, 3)), np.full(17, 20.0), Keypoints.empty(), world=world))
    clip = read_spool(rec.stop())
    assert has_world(clip) and np.allclose(clip.trajectory[:, 0], 100.0 * np.arange(6))
    assert np.allclose(clip.scale, 1.05) and (clip.contacts[:, 0] == (np.arange(6) % 2 == 0)).all()
    assert clip.meta["world"]["height_m"] == 1.7 and clip.meta["world"]["ground"]["camera_height_mm"] == 1600.0
    assert abs(clip.meta["world"]["ground"]["pitch_deg"] - 10.0) < 1e-3  # the floor as last estimated
    travel = world_pose(clip)[-1, 0] - world_pose(clip)[0, 0]
    assert abs(travel[0] - 500.0) < 1.0 and abs(travel[2]) < 1.0  # 5 x 100 mm along the camera's x


def test_a_recording_places_every_stretch_of_a_person_on_the_last_floor(tmp_path):
    # Two stretches in view (tracks 0 and 1); the floor's refit during the second changes the first's
    # scale onto it (1.0 -> 1.2), as a clip from ``process`` takes it.
    from poselift.calibration.floor import Ground, up_from_tilt
    from poselift.engine.live.keypoints import Keypoints
    from poselift.engine.live.pipeline import Result
    from poselift.engine.live.world import WorldFrame
    rec = Recorder(tmp_path, flush_seconds=0.0)
    spool = rec.start(30.0)
    ground = Ground(tuple(up_from_tilt(10.0)), 1600.0)
    for f in range(6):
        track, scales = (0, {0: 1.0}) if f < 3 else (1, {0: 1.2, 1: 0.9})
        onto = scales[track]
        world = WorldFrame(np.array([0.0, 0.0, 4000.0 * onto]), 1.05 * onto, ground, np.zeros(2, bool), onto, track,
                           scales)
        rec.append(Result(f, f / 30, 0.0, 0.0, (640, 480), True, np.zeros((17, 2)), np.ones(17),
                          np.zeros((17, 3)), np.full(17, 20.0), Keypoints.empty(), world=world))
    crashed = read_spool(spool)  # no final floor written yet: each stretch as it last stood
    assert np.allclose(crashed.scale, 1.05 * np.array([1.0] * 3 + [0.9] * 3))
    clip = read_spool(rec.stop())
    assert np.allclose(clip.scale, 1.05 * np.array([1.2] * 3 + [0.9] * 3))
    assert np.allclose(clip.trajectory[:, 2], 4000.0 * np.array([1.2] * 3 + [0.9] * 3))
