import subprocess
import sys

import av
import numpy as np
import pytest

from conftest import DEMO, FedKeypoints, demo_segment, truncated_video
from poselift.engine.live.backends import BackendUnavailable, available_backends, make_backend
from poselift.engine.outputs.clip import Clip
from poselift.engine.live.filters import OneEuroFilter
from poselift.engine.live.keypoints import Keypoints, MediaPipePose
from poselift.engine.live.pipeline import Pipeline
from poselift.engine.live.sources import Frame, VideoFileSource
from poselift.models.checkpoint import load_weights
from poselift.models.evaluate import predict_sequence
from poselift.models.lifter import input_from_rows, window_2d
from poselift.models.skeletons import H36M


@pytest.fixture(scope="module")
def demo_frames():
    source = VideoFileSource(DEMO, max_width=640).start()
    frames = [f for _, f in zip(range(40), source)]
    source.stop()
    return frames


@pytest.fixture(scope="module")
def mediapipe():
    pose = MediaPipePose()
    yield pose
    pose.close()


def test_mediapipe_finds_the_man_from_the_first_frame_and_nobody_in_a_blank_frame(demo_frames, mediapipe):
    found = [mediapipe(f.image) for f in demo_frames]  # in order: MediaPipe tracks from frame to frame
    # The detector alone misses him in the first frames (he is small in the wide frame); the tiles do not.
    assert all(len(people) == 1 for people in found)
    kp = found[-1][0]
    assert kp.detected
    assert kp.landmarks.shape == (33, 2) and kp.world.shape == (33, 3)
    h, w = demo_frames[-1].image.shape[:2]
    assert (kp.landmarks[:, 0] > 0).all() and (kp.landmarks[:, 0] < w).all()
    # Standing: ankles below hips below shoulders below the nose (image y grows downwards).
    y = kp.landmarks[:, 1]
    assert y[27] > y[23] > y[11] > y[0]
    assert 0.3 < np.linalg.norm(kp.world[11] - kp.world[23]) / 1000 < 0.8  # a torso side in metres
    mediapipe.reset()
    assert mediapipe(np.zeros((360, 640, 3), np.uint8)) == []


def test_backends_agree_with_eager(random_weights):
    model = load_weights(random_weights)
    x = np.random.default_rng(0).normal(size=(100, 17, 3)).astype(np.float32)
    eager = make_backend("eager", model)
    ref = np.stack([eager.step(f)[0] for f in x])
    for name in available_backends():
        if name == "eager":
            continue
        backend = make_backend(name, model)
        out = np.stack([backend.step(f)[0] for f in x])
        assert np.abs(out - ref).max() < 0.5, name
        backend.reset()
        assert np.abs(backend.step(x[0])[0] - ref[0]).max() < 0.5, f"{name} after reset"


def test_streaming_with_the_mirror_image_matches_whole_sequence_prediction(random_weights):
    model = load_weights(random_weights)
    kp = np.random.default_rng(1).normal(0, 0.1, (40, 17, 2)).astype(np.float32)
    rows = window_2d(kp, np.ones((40, 17), np.float32))
    frames = input_from_rows(rows, model.spec).numpy()
    for flip in (False, True):
        backend = make_backend("eager", model, flip=flip)
        streamed = np.stack([backend.step(f)[0] for f in frames])
        whole, _ = predict_sequence(model, rows, flip=flip)
        assert np.abs(streamed - whole).max() < 0.05, f"flip={flip}"
    single, _ = predict_sequence(model, rows, flip=False)
    assert np.abs(whole - single).mean() > 0.1  # the mirror image changes the average


def test_tensorrt_absent_is_one_clear_sentence(random_weights):
    if "tensorrt" in available_backends():
        pytest.skip("torch-tensorrt is installed here")
    with pytest.raises(BackendUnavailable, match="tensorrt backend needs") as info:
        make_backend("tensorrt", load_weights(random_weights))
    assert "eager" in str(info.value)
    with pytest.raises(BackendUnavailable, match="unknown backend 'tpu'"):
        make_backend("tpu", load_weights(random_weights))


def test_pipeline_restarts_its_window_when_the_person_returns(demo_frames, mediapipe, random_weights):
    model = load_weights(random_weights)
    mediapipe.reset()
    seen = [mediapipe(f.image) for f in demo_frames[:20]]
    assert sum(bool(k) for k in seen[5:]) >= 12
    gap = [[]] * 3

    def run(keypoints):
        feed = iter(keypoints)
        pipe = Pipeline(make_backend("eager", model), keypoints=FedKeypoints(lambda image: next(feed), num_poses=1))
        return [pipe.process(f) for f in (demo_frames * 2)[: len(keypoints)]]

    results = run(seen + gap + seen)
    assert [r.person for r in results] == [bool(k) for k in seen + gap + seen]
    missing = results[21]
    assert np.isnan(missing.pose3d).all() and np.isfinite(missing.keypoints).all() and (missing.confidence == 0).all()
    for r in results:
        if r.person:
            assert np.isfinite(r.pose3d).all() and np.isfinite(r.uncertainty).all()
            assert np.allclose(r.pose3d[0], 0) and set(r.timings) >= {"keypoints", "prepare", "lifter"}
    # After the gap the window starts afresh: the same as a pipeline that never saw the first part.
    fresh = run(seen)
    after = results[23:]
    for a, b in zip(after, fresh):
        assert a.person == b.person
        if a.person:
            assert np.abs(a.pose3d - b.pose3d).max() < 1e-3
    # And it differs from carrying on with the stale history.
    found = [k for k in seen if k]
    carried = run(found + found)[len(found)]
    assert np.abs(carried.pose3d - run(found)[0].pose3d).max() > 1e-2


@pytest.mark.parametrize("fps, stride", [(30.0, 1), (59.94, 1), (120.0, 2), (240.0, 4), (1e6, 1)])  # 1e6: broken timestamps
def test_a_fast_video_is_lifted_at_a_rate_the_lifter_is_trained_for(random_weights, fps, stride):
    """Over 60 fps each person is lifted as ``stride`` interleaved streams, each taking every stride-th
    frame, as ``predict_sequence`` (and so ``poselift eval --fps``) lifts such a video."""
    model = load_weights(random_weights)
    rng = np.random.default_rng(3)
    start = rng.uniform(200, 400, (33, 2))
    walk = start + np.cumsum(rng.normal(0, 1.0, (80 * stride + 20, 1, 2)), axis=0) + rng.normal(0, 2.0, (80 * stride + 20, 33, 2))
    feed = iter([[Keypoints(xy, np.ones(33), np.zeros((33, 3)), True)] for xy in walk])
    pipe = Pipeline(make_backend("eager", model), keypoints=FedKeypoints(lambda image: next(feed), num_poses=1),
                    swap_repair=None, landmark_smoothing=None, bones=None, world=None)
    image = np.zeros((480, 640, 3), np.uint8)
    results = [pipe.process(Frame(image, i, 0.0, i / fps)) for i in range(len(walk))]
    assert pipe.stride == stride and all(r.person_id == 0 for r in results)
    assert pipe.tracker.frame_rate == pytest.approx(fps if fps < 1000 else 30.0)
    camera = pipe.camera_for(640, 480)
    rows = window_2d(camera.normalize(np.array([r.keypoints for r in results])), np.array([r.confidence for r in results]))
    whole, _ = predict_sequence(model, rows, stride=stride)
    # the frames whose streams began after the frame rate was known (the first frames are one stream)
    late = slice(len(walk) - 10, None)
    assert np.abs(np.array([r.pose3d for r in results])[late] - whole[late]).max() < 0.05
    if stride > 1:
        assert np.abs(predict_sequence(model, rows)[0][late] - whole[late]).max() > 0.05  # the stride matters
    pipe.reset()  # another source: its rate is learnt afresh
    assert (pipe.stride, pipe.frame_rate, pipe.tracker.frame_rate) == (1, None, 30.0)


def test_one_euro_smooths_rest_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    t = np.arange(300) / 30
    noisy = 100 + rng.normal(0, 5, 300)
    out = np.array([f(np.array([v]), ti)[0] for v, ti in zip(noisy, t)])
    assert out[50:].std() < 0.5 * noisy[50:].std()
    fast = OneEuroFilter(min_cutoff=1.0, beta=1.0)
    ramp = 1000 * t  # 1 m/s
    lagged = np.array([fast(np.array([v]), ti)[0] for v, ti in zip(ramp, t)])
    assert np.abs(lagged[100:] - ramp[100:]).max() < 40  # under 40 ms behind at 1 m/s
    with pytest.raises(ValueError, match="out of range"):
        OneEuroFilter(min_cutoff=0)


def test_process_command_on_a_video(tmp_path, random_weights, random_refiner):
    video = demo_segment(tmp_path / "clip.mp4", 45)
    cmd = [sys.executable, "-m", "poselift", "process", str(video), "-o", str(tmp_path / "out"),
           "--weights", str(random_weights), "--quiet", "--smooth", "2", "--refine", "--refiner", str(random_refiner),
           "--threshold", "10"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    clip = Clip.load(tmp_path / "out" / "clip_3d.npz")
    assert len(clip) == 45 and clip.fps == 30
    assert clip.meta["skeleton"] == "h36m17" and clip.meta["units"] == "mm"
    assert clip.meta["camera"]["width"] == 640 and clip.meta["model"]["weights"] == "random.pt"
    assert clip.meta["model"]["refiner"]["weights"] == "refiner.pt" and clip.meta["model"]["refiner"]["threshold_mm"] == 10
    seen = ~np.isnan(clip.pose3d).any(axis=(1, 2))
    # the person is in every frame; the run MediaPipe garbles (about 10 frames) is left out (measured 30-33 kept)
    assert seen.sum() >= 25 and np.isfinite(clip.confidence).all()
    with av.open(str(tmp_path / "out" / "clip_3d.mp4")) as rendered:
        frames = sum(1 for _ in rendered.decode(video=0))
        assert frames == 45 and rendered.streams.video[0].codec_context.name == "h264"


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing.mp4", "does not exist"),
    (lambda p: (p / "a.mp4").write_text("text") and p / "a.mp4", "is not a video file"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no images"),
])
def test_process_bad_input_is_one_sentence(tmp_path, random_weights, make, message):
    cmd = [sys.executable, "-m", "poselift", "process", str(make(tmp_path)), "-o", str(tmp_path / "o"),
           "--weights", str(random_weights), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_truncated_video_is_processed_up_to_the_fault(tmp_path, random_weights):
    mkv = truncated_video(tmp_path, frames=60, size=(160, 120))
    cmd = [sys.executable, "-m", "poselift", "process", str(mkv), "-o", str(tmp_path / "o"),
           "--weights", str(random_weights), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the frames before are kept" in result.stderr
    clip = Clip.load(tmp_path / "o" / "cut_3d.npz")  # what was processed before the fault is kept
    assert 5 < len(clip) < 60


def test_pipeline_swaps_mediapipe_label_swaps_back(demo_frames, mediapipe, random_weights):
    from dataclasses import replace

    from poselift.engine.live.keypoints import Keypoints
    from poselift.engine.live.swaps import SwapRepair
    from poselift.models.skeletons import H36M, MEDIAPIPE, convert

    mediapipe.reset()
    seen = next(k[0] for k in (mediapipe(f.image) for f in demo_frames) if k)
    legs = [MEDIAPIPE.index(f"left_{n}") for n in ("knee", "ankle", "heel", "foot_index")]
    swapped = [MEDIAPIPE.flip_index[j] for j in legs]
    apart = seen.landmarks.copy()
    apart[legs, 0] += 40.0  # legs in a stride, so that a swap is visible
    walk = [apart + [3.0 * i, 0.0] for i in range(20)]  # the person drifts right
    stream = [w.copy() for w in walk]
    for i in range(10, 14):  # MediaPipe calls the left leg the right one for four frames
        stream[i][legs + swapped] = walk[i][swapped + legs]
    frames = iter(stream)

    def keypoints(_image):
        return [Keypoints(next(frames), seen.visibility, seen.world, True)]

    pipeline = Pipeline(make_backend("eager", load_weights(random_weights)), keypoints=FedKeypoints(keypoints),
                        swap_repair=SwapRepair())
    results = [pipeline.process(replace(demo_frames[0], index=i)) for i in range(20)]
    knees = [H36M.index("left_knee"), H36M.index("right_knee"), H36M.index("left_ankle"), H36M.index("right_ankle")]
    for i, r in enumerate(results):
        assert np.allclose(r.keypoints, convert(walk[i], MEDIAPIPE.name, H36M.name), atol=1e-6)
        assert r.repaired[knees].all() == (10 <= i < 14) and r.repaired.sum() == (4 if 10 <= i < 14 else 0)


@pytest.mark.parametrize("flag, value, message", [("--fov", "-5", "is not a field of view in degrees"),
                                                  ("--smooth", "-1", "is not a cutoff in Hz"),
                                                  ("--people", "0", "is not a number of people")])
def test_out_of_range_settings_are_refused_before_anything_is_written(tmp_path, flag, value, message):
    result = subprocess.run([sys.executable, "-m", "poselift", "process", str(DEMO), "-o", str(tmp_path / "out"),
                             flag, value], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "usage:" not in result.stderr  # one sentence, not the whole usage
    assert not (tmp_path / "out").exists()


def test_a_missing_camera_file_names_what_to_pass(tmp_path):
    from poselift.calibration import CalibrationError, Camera
    with pytest.raises(CalibrationError, match="does not exist: pass a camera JSON") as e:
        Camera.load(tmp_path / "cam.json")
    assert "calibrate" not in str(e.value)  # no advice to run a command that is not there


def test_landmark_smoothing_steadies_the_lift_of_a_still_person(demo_frames, mediapipe, random_weights):
    from dataclasses import replace

    from poselift.engine.live.factory import LANDMARK_SMOOTHING
    from poselift.engine.live.keypoints import Keypoints

    mediapipe.reset()
    seen = next(k[0] for k in (mediapipe(f.image) for f in demo_frames) if k)
    noise = np.random.default_rng(0).normal(0.0, 1.5, (30, *seen.landmarks.shape))  # MediaPipe's jitter, px

    def run(smoothing):
        frames = iter(seen.landmarks + noise)
        pipeline = Pipeline(make_backend("eager", load_weights(random_weights)), landmark_smoothing=smoothing,
                            keypoints=FedKeypoints(lambda _: [Keypoints(next(frames), seen.visibility, seen.world, True)]))
        poses = np.array([pipeline.process(replace(demo_frames[0], index=i, timestamp=i / 30)).pose3d
                          for i in range(30)])
        return np.linalg.norm(np.diff(poses[10:], 2, axis=0), axis=-1).mean()  # acceleration, mm/frame²

    assert run(OneEuroFilter(*LANDMARK_SMOOTHING)) < 0.5 * run(None)


def test_fusion_keeps_the_lift_beside_the_fused_pose_and_falls_back_without_a_jump(demo_frames, mediapipe,
                                                                                   random_weights):
    from dataclasses import replace

    from poselift.engine.live.factory import PipelineOptions, build_pipeline
    from poselift.engine.live.fusion import FADE_S
    from poselift.engine.live.keypoints import Keypoints

    mediapipe.reset()
    seen = next(k[0] for k in (mediapipe(f.image) for f in demo_frames) if k)
    gone = set(range(20, 30))  # frames whose MediaPipe 3D is missing

    def people(i):
        return [Keypoints(seen.landmarks, seen.visibility, np.full((33, 3), np.nan) if i in gone else seen.world, True)]

    def run(fusion):
        frames = iter(range(40))
        pipeline, info = build_pipeline(PipelineOptions(weights=random_weights, world=None, fusion=fusion,
                                                        steady_bones=False),  # the fusion's own output
                                        keypoints=FedKeypoints(lambda _: people(next(frames))))
        results = [pipeline.process(replace(demo_frames[0], index=i, timestamp=i / 30)) for i in range(40)]
        return results, info

    fused, info = run(True)
    alone, info_off = run(False)
    assert info["fusion"] and not info_off["fusion"]
    assert all(r.lifted is None and r.fused is None for r in alone)
    lifted = np.array([r.lifted for r in fused])
    assert np.allclose(lifted, [r.pose3d for r in alone], atol=1e-4)  # the same lift underneath
    pose = np.array([r.pose3d for r in fused])
    assert fused[15].fused.any() and not np.allclose(pose[15], lifted[15])
    assert np.allclose(pose[29], lifted[29]) and not fused[29].fused.any()  # MediaPipe's 3D gone: the lift
    # each frame moves no more than the lift itself plus a frame's share of the correction's fade
    moved = np.linalg.norm(np.diff(pose, axis=0), axis=-1).max(1)
    lift_moved = np.linalg.norm(np.diff(lifted, axis=0), axis=-1).max(1)
    correction = np.linalg.norm(pose - lifted, axis=-1).max()
    assert (moved <= lift_moved + correction / 30 / FADE_S + 1e-3).all()
    clip = Clip.from_results(fused, 30.0, {"model": info})
    assert clip.meta["model"]["fusion"] and np.allclose(clip.lifted, lifted, atol=1e-3)


def test_by_default_each_persons_bones_keep_one_length_left_and_right_alike(demo_frames, mediapipe, random_weights):
    from dataclasses import replace

    from poselift.engine.live.factory import PipelineOptions, build_pipeline
    from poselift.engine.live.keypoints import Keypoints

    mediapipe.reset()
    seen = next(k[0] for k in (mediapipe(f.image) for f in demo_frames) if k)
    rng = np.random.default_rng(1)
    moving = lambda _: [Keypoints(seen.landmarks + rng.normal(0, 4, seen.landmarks.shape), seen.visibility,  # noqa: E731
                                  seen.world, True)]
    runs = {}
    for steady in (True, False):
        pipeline, info = build_pipeline(PipelineOptions(weights=random_weights, world=None, steady_bones=steady),
                                        keypoints=FedKeypoints(moving))
        assert info["steady_bones"] == steady
        poses = np.array([pipeline.process(replace(demo_frames[0], index=i, timestamp=i / 30)).pose3d for i in range(30)])
        runs[steady] = np.array([[np.linalg.norm(p[j] - p[q]) for q, j in H36M.bones] for p in poses])
    assert np.allclose(runs[True], runs[True][:, H36M.bone_flip_index])  # left and right alike
    change = lambda b: np.abs(np.diff(b[10:], axis=0)).max()  # noqa: E731
    assert change(runs[True]) < 0.2 * change(runs[False])
