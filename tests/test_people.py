"""Everyone in view: the Tasks API front end, the person tracker, one lifter stream per person, the
pipeline's per-person results, and process writing one clip per person; single images and short clips."""
import subprocess
import sys
import zipfile
from dataclasses import replace

import av
import cv2
import numpy as np
import pytest

from conftest import DEMO, FedKeypoints
from poselift.engine.live.backends import make_backend
from poselift.engine.outputs.clip import Clip
from poselift.engine.live.factory import PipelineOptions, build_pipeline
from poselift.engine.live.filters import OneEuroFilter
from poselift.engine.live.keypoints import Keypoints, MediaPipePose, MediaPipePoses, RecentPeople
from poselift.engine.live.pipeline import Pipeline
from poselift.engine.live.pose_bundle import pose_landmarker_bundle
from poselift.engine.live.sources import VideoFileSource
from poselift.engine.live.swaps import SwapRepair
from poselift.engine.live.tracker import PersonTracker
from poselift.engine.offline.process import lifted
from poselift.models.checkpoint import load_weights


@pytest.fixture(scope="module")
def demo_frames():
    source = VideoFileSource(DEMO, max_width=640).start()
    frames = list(source)
    source.stop()
    return frames


@pytest.fixture(scope="module")
def demo_run(demo_frames, random_weights):
    """The whole demo clip through the two-person pipeline: per frame, the followed id and each
    person's (id, box)."""
    pipeline, _ = build_pipeline(PipelineOptions(weights=random_weights, people=2))
    rows = []
    for frame in demo_frames:
        r = pipeline.process(frame)
        rows.append((r.person_id, [(p.person_id, p.mediapipe.box()) for p in r.people]))
        assert all(p.people is r.people and np.isfinite(p.pose3d).all() for p in r.people)
    pipeline.keypoints.close()
    return rows


@pytest.fixture(scope="module")
def demo_run_one(demo_frames, random_weights):
    """The whole demo clip through the default pipeline (one person followed): per frame, whether the
    followed person was seen, their id, and everyone's (id, box)."""
    pipeline, _ = build_pipeline(PipelineOptions(weights=random_weights))
    rows = []
    for frame in demo_frames:
        r = pipeline.process(frame)
        rows.append((r.person_id if r.person else None, [(p.person_id, p.mediapipe.box()) for p in r.people]))
    pipeline.keypoints.close()
    return rows


def test_the_tasks_bundle_is_built_from_the_wheel_and_finds_both_people(tmp_path, demo_frames):
    bundle = pose_landmarker_bundle(tmp_path)
    with zipfile.ZipFile(bundle) as z:
        assert sorted(z.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    assert pose_landmarker_bundle(tmp_path) == bundle  # built once, then reused
    tasks, legacy = MediaPipePoses(2), MediaPipePose(search_tiles=False)
    both, agree = 0, []
    for frame in demo_frames[60:100]:  # the man on the roof and the woman walking below
        people, (one,) = tasks(frame.image), legacy(frame.image) or (None,)
        both += len(people) == 2
        if one is not None:  # the same landmark model: the same person's landmarks agree
            best = min(people, key=lambda p: np.abs(p.box() - one.box()).sum())
            seen = (best.visibility > 0.5) & (one.visibility > 0.5)
            agree.append(np.median(np.linalg.norm(best.landmarks[seen] - one.landmarks[seen], axis=1)))
    tasks.close()
    legacy.close()
    assert both >= 36
    assert len(agree) >= 20 and np.median(agree) < 4.0  # pixels, in a 640 x 360 frame


def _person(offset_x: float, landmarks: np.ndarray, visibility: np.ndarray) -> Keypoints:
    return Keypoints(landmarks + [offset_x, 0.0], visibility, np.zeros((33, 3)), True)


def test_tracker_keeps_identities_through_misses_and_a_crossing(demo_frames):
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [0, 180]
    tracker = PersonTracker()
    ids = {}
    for t in range(60):  # A walks right, B walks left; they cross around frame 30
        a, b = _person(100 + 6 * t, base, man.visibility), _person(460 - 6 * t, base + [0, 8], man.visibility)
        frame = [a, b]
        if 28 <= t < 31:
            frame = [a]  # B hidden behind A for three frames
        if t in (10, 45):
            frame = []  # MediaPipe finds nobody
        for pid, person in tracker.update(frame[::-1] if t % 2 else frame):  # in either order
            ids.setdefault(pid, set()).add("A" if person is a else "B")
    assert ids == {0: {"A"}, 1: {"B"}}
    assert tracker.update([_person(2000, base, man.visibility)])[0][0] == 2  # a stranger far away: a new id


def _identity_switches(rows, width=640, height=360):
    """Identity switches against a per-frame ground truth of who is where in the demo clip: the man
    stands on the roof (head in the upper half) until he jumps at frame ~156, then runs off to the
    right; the woman walks along the grass, right to left. Counted as MOT does: a person's id
    changes from the one they had when last seen."""
    last, switches, ids = {}, 0, {"man": set(), "woman": set()}
    for index, (_, people) in enumerate(rows):
        for pid, (x0, y0, x1, y1) in people:
            who = "man" if y0 < 0.45 * height or (index > 156 and (x0 + x1) / 2 > 0.5 * width) else "woman"
            if who in last and last[who] != pid and last[who] in {p for p, _ in people}:
                continue  # a second pose on the same person (a false alarm), not a switch
            switches += who in last and last[who] != pid
            last[who] = pid
            ids[who].add(pid)
    return switches, ids


def test_demo_clip_both_people_keep_their_ids_and_the_man_is_followed(demo_run):
    switches, ids = _identity_switches(demo_run)
    assert switches == 0 and len(ids["man"]) == 1 and len(ids["woman"]) == 1, ids
    (man,), (woman,) = ids["man"], ids["woman"]
    seen = {pid: sum(pid in {p for p, _ in people} for _, people in demo_run) for pid in (man, woman)}
    assert seen[man] >= 170 and seen[woman] >= 130, seen
    followed = [f for f, _ in demo_run]
    # He is there from the first frame; the view stays on him through the frames MediaPipe misses
    # him (his jump), rather than jumping to the woman.
    assert set(followed[:200]) == {man}


def test_by_default_one_person_is_followed_from_first_frame_to_last_and_never_someone_else(demo_run_one):
    _, ids = _identity_switches(demo_run_one)
    (man,) = ids["man"]  # the most prominent at the start, and one id for him through his jump
    followed = [f for f, _ in demo_run_one]
    assert {f for f in followed if f is not None} == {man}
    assert followed.count(man) >= 170  # the frames MediaPipe misses him in the air are gaps, not the woman


def test_a_person_lost_for_longer_than_a_track_lives_gets_their_id_back(demo_frames):
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [300, 180]
    tracker = PersonTracker()
    for t in range(40):  # seen for over a second: a person, not a false detection
        assert tracker.update([_person(2.0 * t, base, man.visibility)])[0][0] == 0
    for _ in range(60):  # lost for 2 s, longer than a track lives (1.5 s at 30 fps)
        tracker.update([])
    back = tracker.update([_person(120.0, base, man.visibility)])  # found again a little farther on
    assert back[0][0] == 0
    for _ in range(60):
        tracker.update([])
    bigger = Keypoints((man.landmarks - man.landmarks.mean(0)) * 3 + [300, 180], man.visibility, man.world, True)
    assert tracker.update([bigger])[0][0] == 1  # three times the size: someone else
    brief = PersonTracker()
    for t in range(15):  # seen for half a second (a garbled body MediaPipe reported for as long)
        brief.update([_person(2.0 * t, base, man.visibility)])
    for _ in range(60):
        brief.update([])
    assert brief.update([_person(40.0, base, man.visibility)])[0][0] == 1  # not given back


def test_someone_who_walked_out_of_the_picture_comes_back_through_its_edge(demo_frames):
    (man,) = MediaPipePose()(demo_frames[100].image)
    size = (640, 360)
    x0, y0, x1, y1 = man.box()
    height = y1 - y0

    def person(left: float) -> Keypoints:  # the man with his box's left side at ``left``
        return _person(left - x0, man.landmarks - [0, y0 - 150], man.visibility)

    def back_at(left: float) -> int:
        tracker = PersonTracker()
        for t in range(15):  # walks out at the left, his box last reaching past the edge
            tracker.update([person(0.5 * height - 0.05 * height * t)], size)
        for _ in range(20):
            tracker.update([], size)
        return tracker.update([person(left)], size)[0][0]

    assert back_at(0.2 * height) == 0  # back in at the edge he left by
    assert back_at(1.5 * height) == 1  # found well inside: within reach, but someone else


def test_a_person_seen_squeezed_in_the_air_then_whole_again_keeps_their_id(demo_frames):
    # The demo clip at half size: MediaPipe loses the man in his jump, finds him for a few frames squeezed
    # into a third of his size in mid-air, loses him again, then finds him whole on landing, below.
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [300, 180]
    height = np.ptp(base[:, 1])
    squeezed = (base - base.mean(0)) * 0.3 + base.mean(0) - [0, 0.5 * height]
    tracker = PersonTracker()
    frames = [base] * 20 + [None] * 2 + [squeezed] * 4 + [None] * 3 + [base + [0.3 * height, 0.2 * height]]
    ids = [[pid for pid, _ in tracker.update([] if pose is None else [_person(0.0, pose, man.visibility)])]
           for pose in frames]
    assert {pid for frame in ids for pid in frame} == {0}  # before, the landing man was someone new
    assert ids[-1] == [0]


def test_a_person_garbled_as_they_jump_and_found_again_below_keeps_their_id(demo_frames):
    # The demo clip at half size: MediaPipe finds the man on the roof only now and then before his jump,
    # reports him garbled, twice as tall and a third of his size, in the last frames before losing him,
    # and finds him again, crouched, below and beside where he was, a few frames later: he was someone
    # new (a third clip with --people 2).
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [300, 180]
    height = np.ptp(base[:, 1])
    tall = (base - base.mean(0)) * [1.2, 1.9] + base.mean(0) + [0, 0.45 * height]  # from his head down
    small = (base - base.mean(0)) * 0.3 + base.mean(0) + [0.3 * height, -0.3 * height]
    crouched = (base - base.mean(0)) * 0.6 + base.mean(0) + [0.5 * height, 0.0]
    frames = [base] * 30 + ([None] * 3 + [base]) * 4 + [tall, small, tall] + [None] * 4 + [crouched] * 3
    tracker = PersonTracker()
    ids = [[pid for pid, _ in tracker.update([] if pose is None else [_person(0.0, pose, man.visibility)])]
           for pose in frames]
    assert {pid for frame in ids for pid in frame} == {0}
    assert ids[-1] == [0]


def test_a_garbled_body_beside_a_person_is_left_out_and_they_keep_their_id(demo_frames):
    # The demo clip at 40 %: MediaPipe garbles the small man on the roof for a few frames into a body
    # lying beside him, then finds him whole again, for a few frames beside the garbled one.
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [300, 180]
    height = np.ptp(base[:, 1])
    lying = (base - base.mean(0))[:, ::-1] + base.mean(0) + [-0.6 * height, 0.2 * height]
    tracker = PersonTracker()
    walk = lambda t: _person(2.0 * t, base, man.visibility)  # noqa: E731  2 px a frame
    for t in range(15):
        assert [pid for pid, _ in tracker.update([walk(t)])] == [0]
    garbled = [tracker.update([_person(2.0 * t, lying + [3.0 * (t - 15), 0], man.visibility)]) for t in range(15, 20)]
    assert garbled == [[]] * 5  # left out as glitches, each nearer the last of them than the man
    both = [tracker.update([walk(t), _person(2.0 * t, lying, man.visibility)]) for t in range(20, 23)]
    assert all(dict(frame)[0] is not None and [pid for pid, p in frame if p.landmarks is not None][0] == 0
               for frame in both)
    assert all(np.allclose(dict(frame)[0].landmarks, walk(t).landmarks) for t, frame in zip(range(20, 23), both))
    assert [pid for pid, _ in tracker.update([walk(23)])] == [0]


@pytest.mark.parametrize("fps", [30.0, 120.0])
def test_the_trackers_times_are_seconds_at_the_videos_frame_rate(demo_frames, fps):
    """One second of a person seen (then a squeezed skeleton is a glitch), and a second and a half of
    them unseen (then the track is dropped), whatever the frame rate; a track knows its person by the
    sightings of the same span of time (four at 30 fps)."""
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [300, 180]
    squeezed = (base - base.mean(0)) * 0.5 + base.mean(0) + [0, 40]
    tracker = PersonTracker(frame_rate=fps)
    walk = lambda t, pose: [_person(60.0 * t / fps, pose, man.visibility)]  # noqa: E731  2 px a frame at 30 fps
    frames = round(0.8 * fps)  # 0.8 s: not yet steady
    for t in range(frames):
        tracker.update(walk(t, base))
    assert len(tracker.tracks[0].seen) == round(4 * fps / 30)
    assert [pid for pid, _ in tracker.update(walk(frames, squeezed))] == [0]  # taken as it comes
    for t in range(frames + 1, 3 * frames):
        tracker.update(walk(t, base))
    assert tracker.update(walk(3 * frames, squeezed)) == []  # seen for over a second: a glitch, missed
    for _ in range(round(1.4 * fps)):
        tracker.update([])
    assert len(tracker.tracks) == 1
    for _ in range(round(0.2 * fps)):
        tracker.update([])
    assert tracker.tracks == [] and len(tracker.departed) == 1  # 1.6 s unseen: dropped, remembered


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0, 120.0])
def test_the_front_end_looks_for_people_lately_seen_for_as_long_at_any_frame_rate(fps):
    """Someone seen for a while is looked for again for ``memory_s`` after they are missed, someone
    seen only once for ``SURE_MISSED_S``, someone who walked out at the edge not at all; each to
    within a frame, at any frame rate."""
    frame = np.array([640.0, 360.0])
    steady, once, leaving = np.array([100.0, 50, 200, 350]), np.array([400.0, 50, 480, 300]), np.array([0.0, 50, 12, 300])
    recent = RecentPeople()
    for _ in range(round(0.5 * fps)):
        recent.update([steady, leaving], 1 / fps)
    recent.update([once], 1 / fps)
    looked_for = {"steady": 0, "once": 0}
    for _ in range(round((recent.memory_s + 0.5) * fps)):
        recent.update([], 1 / fps)
        missing = recent.missing(frame)
        assert not any(np.array_equal(b, leaving) for b in missing)
        looked_for["steady"] += any(np.array_equal(b, steady) for b in missing)
        looked_for["once"] += any(np.array_equal(b, once) for b in missing)
    assert abs(looked_for["steady"] / fps - recent.memory_s) <= 1.01 / fps
    assert recent.SURE_MISSED_S - 1.01 / fps <= looked_for["once"] / fps <= recent.SURE_MISSED_S
    assert recent.people == []  # all forgotten


def test_the_front_end_takes_any_timestamps(demo_frames):
    """Frames at 120 fps, a repeated timestamp, one going back and frames without any: MediaPipe is
    still given rising times and finds the same people."""
    poses = MediaPipePoses(num_poses=2)
    image = demo_frames[80].image
    found = [len(poses(image, t)) for t in (10.0, 10.0 + 1 / 120, 10.0 + 1 / 120, 10.0, None, 10.1)]
    poses.close()
    assert found == [found[0]] * len(found) and found[0] >= 1


def test_a_steady_persons_squeezed_skeleton_is_missed_not_taken(demo_frames):
    """MediaPipe's glitch: a walker's skeleton squeezed into half her size for a few frames, with full
    confidence. Those frames miss her, her id stays; many such frames in a row are taken as real."""
    (man,) = MediaPipePose()(demo_frames[100].image)
    base = man.landmarks - man.landmarks.mean(0) + [300, 180]
    squeezed = (base - base.mean(0)) * 0.5 + base.mean(0) + [0, 40]
    tracker = PersonTracker()
    walk = lambda t, pose: [_person(2.0 * t, pose, man.visibility)]  # noqa: E731
    for t in range(40):
        assert [pid for pid, _ in tracker.update(walk(t, base))] == [0]
    for t in range(40, 45):
        assert tracker.update(walk(t, squeezed)) == []  # missed, not a new person, not her pose
    assert [pid for pid, _ in tracker.update(walk(45, base))] == [0]
    for t in range(46, 80):
        tracker.update(walk(t, base))
    glitches = tracker.frames(tracker.max_glitches_s)
    taken = [tracker.update(walk(t, squeezed)) for t in range(80, 80 + glitches + 2)]
    assert [len(people) for people in taken[:glitches]] == [0] * glitches
    assert all([pid for pid, _ in people] == [0] for people in taken[glitches:])  # a zoom: real

    fresh = PersonTracker()  # someone just found changes size as they please (a backflip's landing)
    for t, pose in enumerate([base] * 5 + [squeezed] * 3):
        assert [pid for pid, _ in fresh.update(walk(t, pose))] == [0]


def test_people_step_in_one_batch_each_with_its_own_history(random_weights):
    model = load_weights(random_weights)
    x = np.random.default_rng(0).normal(size=(30, 3, 17, 3)).astype(np.float32)
    for name in ("eager", "onnx"):
        for flip in (True, False):
            alone = [make_backend("eager", model, flip=flip) for _ in range(3)]
            together = make_backend(name, model, flip=flip)
            for t in range(30):
                present = [0, 1] if t < 10 else [0, 2] if t < 20 else [0, 1, 2]  # 2 arrives, 1 leaves and returns
                if t == 10:
                    together.release(1)
                    alone[1].reset()
                out = together.step_streams({k: x[t, k] for k in present})
                for k in present:
                    pose, sigma = alone[k].step(x[t, k])
                    assert np.abs(out[k][0] - pose).max() < 1e-2 and np.abs(out[k][1] - sigma).max() < 1e-2, (name, t, k)


def test_pipeline_lifts_each_person_as_if_alone(demo_frames, random_weights, random_refiner):
    from poselift.engine.live.factory import load_refiner
    from poselift.engine.live.refine import RefineSettings

    (man,) = MediaPipePose()(demo_frames[100].image)
    walk = [[_person(3.0 * t, man.landmarks, man.visibility), _person(4.0 * t - 300, man.landmarks, man.visibility)]
            for t in range(24)]
    for t in range(14, 18):
        walk[t] = walk[t][:1]  # the second person leaves for four frames

    def run(frames, follow=None):
        feed = iter(frames)
        pipe = Pipeline(make_backend("eager", load_weights(random_weights)), keypoints=FedKeypoints(lambda _: next(feed)),
                        swap_repair=SwapRepair(), smoothing=OneEuroFilter(1.0),
                        refiner=load_refiner(random_refiner, RefineSettings(threshold_mm=0.0)))
        if follow is not None:
            pipe.follow(follow)
        return [pipe.process(replace(demo_frames[0], index=i, timestamp=i / 30)) for i in range(len(frames))]

    both = run(walk)
    first_alone = run([w[:1] for w in walk])
    for r, alone in zip(both, first_alone):
        first = next(p for p in r.people if p.person_id == 0)
        assert np.abs(first.pose3d - alone.pose3d).max() < 1e-3  # the other person changes nothing
        assert r.person_id == 0  # the most prominent (largest, then most central) is followed
    second = [next((p for p in r.people if p.person_id == 1), None) for r in both]
    assert [p is not None for p in second] == [len(w) == 2 for w in walk]
    assert np.abs(second[0].pose3d - both[0].people[0].pose3d).max() > 1.0  # its own stream, not a copy
    later = run([w[1:] or [] for w in walk][18:])  # the second person's return starts a fresh window
    assert np.abs(second[18].pose3d - later[0].pose3d).max() < 1e-3
    followed = run(walk, follow=1)
    assert [r.person for r in followed] == [len(w) == 2 for w in walk]  # follows 1, absent while 1 is away


def test_whom_the_tracker_forgot_is_no_longer_followed_unless_named(demo_frames, random_weights):
    # Live, the most prominent person at the start is followed; if the tracker forgets them (a garbled
    # body MediaPipe reported for a third of a second, or someone gone longer than it remembers), the
    # next frame with anyone chooses again. Someone named (--follow, a click, process's main person)
    # stays followed, and so does whom process chose: a file's clip is one person.
    (man,) = MediaPipePose()(demo_frames[100].image)
    frames = [[_person(0.0, man.landmarks, man.visibility)]] * 10 + [[]] * 50 + \
             [[_person(-200.0, man.landmarks * [1, 0.8] + [0, 60], man.visibility)]] * 5

    shown = [replace(demo_frames[0], index=i, timestamp=i / 30) for i in range(len(frames))]

    def pipeline(follow=None) -> Pipeline:
        feed = iter(frames)
        return Pipeline(make_backend("eager", load_weights(random_weights)), keypoints=FedKeypoints(lambda _: next(feed)),
                        follow=follow)

    def run(follow=None):
        pipe = pipeline(follow)
        return [pipe.process(frame) for frame in shown]

    chosen = run()
    assert [r.person_id for r in chosen[:10]] == [0] * 10 and {r.person_id for r in chosen[10:60]} <= {0, None}
    assert [r.person_id for r in chosen[60:]] == [1] * 5  # forgotten after 1.5 s: the newcomer is chosen
    assert all(r.person for r in chosen[60:])
    named = run(follow=0)
    assert {r.person_id for r in named} == {0} and not any(r.person for r in named[10:])
    clip = [r for _, r in lifted(shown, pipeline())]  # a file through process: one person, whom it chose
    assert {r.person_id for r in clip} == {0} and not any(r.person for r in clip[10:])


def test_a_person_back_from_a_miss_keeps_their_bones_and_one_leaving_the_picture_is_let_go(demo_frames, random_weights):
    from poselift.engine.live.bones import SteadyBones
    from poselift.models.skeletons import H36M

    (man,) = MediaPipePose()(demo_frames[100].image)
    width = demo_frames[0].image.shape[1]

    def run(people):
        feed = iter(people)
        pipe = Pipeline(make_backend("eager", load_weights(random_weights)), keypoints=FedKeypoints(lambda _: next(feed)),
                        bones=SteadyBones(H36M))
        return [pipe.process(replace(demo_frames[0], index=i, timestamp=i / 30)) for i in range(len(people))]

    def bones(result):
        return np.linalg.norm(result.pose3d[1:] - result.pose3d[np.array(H36M.parents[1:])], axis=1)

    jitter = np.random.default_rng(0).normal(0, 6.0, (30, 33, 2))  # a pose that changes, and its bones with it
    walk = [[_person(6.0 * t - 200, man.landmarks + jitter[t], man.visibility)] for t in range(30)]
    missed = [w if not 12 <= t < 16 else [] for t, w in enumerate(walk)]  # unseen for four frames, then back
    results = run(missed)
    assert [r.person for r in results] == [bool(w) for w in missed] and {r.person_id for r in results} == {0}
    kept = np.abs(bones(results[16]) / bones(results[11]) - 1).max()
    afresh = np.abs(bones(run(walk[16:])[0]) / bones(results[11]) - 1).max()  # what a new stream would measure
    assert kept < 0.05 < afresh, (kept, afresh)  # the mean of 13 frames moves a little; one frame alone, more

    leaving = [[_person(14.0 * t, man.landmarks, man.visibility)] for t in range(24)]  # walks out on the right
    outside = [(p.landmarks[:, 0] >= width).mean() for (p,) in leaving]
    results = run(leaving)
    assert all(r.person for r, out in zip(results, outside) if out == 0)
    assert not any(r.person for r, out in zip(results, outside) if out > 0.75)  # MediaPipe's guess of the rest


def _write_video(path, frames, size=(640, 360)):
    """``frames`` as an H.264 MP4 of ``size`` (frames of another size scaled to it)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = *size, "yuv420p"
        for f in frames:
            image = f.image if f.image.shape[1::-1] == size else cv2.resize(f.image, size, interpolation=cv2.INTER_AREA)
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def _process(*args):
    result = subprocess.run([sys.executable, "-m", "poselift", "process", *map(str, args), "--quiet"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_a_photo_a_folder_of_them_and_a_three_frame_clip_get_their_person(tmp_path, demo_frames, random_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "roof.jpg"), demo_frames[0].image)
    cv2.imwrite(str(photos / "both.png"), demo_frames[80].image)
    (photos / "notes.txt").write_text("not an image")
    out = _process(photos / "roof.jpg", "-o", tmp_path / "one", "--weights", random_weights)
    assert "1 frame (1 with a person)" in out
    clip = Clip.load(tmp_path / "one" / "roof_3d.npz")
    assert len(clip) == 1 and np.isfinite(clip.pose3d).all()
    out = _process(photos, "-o", tmp_path / "many", "--weights", random_weights, "--no-video", "--people", "2")
    assert out.count("1 frame (1 with a person)") == 2
    written = sorted(p.name for p in (tmp_path / "many").iterdir())  # the followed person's clip, and each person's
    assert written == ["both_3d.npz", "both_p0_3d.npz", "both_p1_3d.npz", "roof_3d.npz", "roof_p0_3d.npz"]
    cv2.imwrite(str(photos / "blank.png"), np.zeros((360, 640, 3), np.uint8))
    result = subprocess.run([sys.executable, "-m", "poselift", "process", str(photos), "-o",
                             str(tmp_path / "blank"), "--weights", str(random_weights), "--no-video", "--quiet"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "nobody was found in 1 of the 3 images (blank.png)" in result.stderr
    assert sorted(p.name for p in (tmp_path / "blank").iterdir()) == ["blank_3d.npz", "both_3d.npz", "roof_3d.npz"]
    short = _write_video(tmp_path / "start.mp4", demo_frames[:3])  # the clip's first frames: the man is small
    assert "3 frames (3 with a person)" in _process(short, "-o", tmp_path / "short", "--weights", random_weights)


def test_process_writes_one_clip_per_person(tmp_path, demo_frames, random_weights):
    video = _write_video(tmp_path / "walk.mp4", demo_frames[60:100])
    out = _process(video, "-o", tmp_path / "out", "--weights", random_weights, "--people", "2")
    man, woman = Clip.load(tmp_path / "out" / "walk_p0_3d.npz"), Clip.load(tmp_path / "out" / "walk_p1_3d.npz")
    assert "walk_p0_3d.npz" in out and not (tmp_path / "out" / "walk_p2_3d.npz").exists()
    assert len(man) == len(woman) == 40 and man.meta["person"] == 0 and woman.meta["person"] == 1
    seen = np.isfinite(man.pose3d).all(axis=(1, 2))
    assert seen.sum() >= 26 and np.isfinite(woman.pose3d).all(axis=(1, 2)).sum() >= 36
    # MediaPipe garbles the small man for a dozen frames into a body lying beside him (wider than tall):
    # left out, but for the few after a third of a second of them (a cut in an edited video looks alike)
    span = np.ptp(man.keypoints[seen], axis=1)
    assert (span[:, 0] > span[:, 1]).sum() <= 4
    head = man.keypoints[:, 10, 1][seen]
    assert (head < 0.3 * 360).all()  # p0 is the man on the roof throughout, p1 the woman below
    assert (woman.keypoints[np.isfinite(woman.pose3d).all(axis=(1, 2)), 10, 1] > 0.45 * 360).all()
    with av.open(str(tmp_path / "out" / "walk_3d.mp4")) as rendered:
        assert sum(1 for _ in rendered.decode(video=0)) == 40


def test_process_follows_the_main_person_not_a_garbled_body_found_first(tmp_path, random_weights):
    # The demo's first 3 s at 30 % of their size (530 x 298): MediaPipe finds the man on the roof late, and
    # first, for about half a second, a garbled body beside him (wider than tall), which live is whom the
    # stream follows (17 frames); process has the whole video.
    source = VideoFileSource(DEMO).start()
    frames = [f for _, f in zip(range(90), source)]
    source.stop()
    video = _write_video(tmp_path / "small.mp4", frames, (530, 298))
    _process(video, "-o", tmp_path / "out", "--weights", random_weights, "--no-video")
    clip = Clip.load(tmp_path / "out" / "small_3d.npz")
    seen = np.isfinite(clip.pose3d).all(axis=(1, 2))
    span = np.ptp(clip.keypoints[seen], axis=1)
    assert seen.sum() >= 45 and (span[:, 1] > span[:, 0]).mean() > 0.9  # the man (64 frames here), standing


def test_bench_reports_the_people_followed(tmp_path, demo_frames, random_weights):
    from poselift.engine.live.bench import bench_file, bench_lifter, format_table

    (man,) = MediaPipePose()(demo_frames[100].image)
    two = [_person(0.0, man.landmarks, man.visibility), _person(250.0, man.landmarks, man.visibility)]

    pipeline = Pipeline(make_backend("eager", load_weights(random_weights)), keypoints=FedKeypoints(lambda _: two),
                        people=2)
    rows = bench_file(_write_video(tmp_path / "v.mp4", demo_frames[:12]), pipeline)
    summary = rows[-1]
    assert summary["people"] == 2 and summary["people_per_frame"] == 2.0 and summary["frames"] == 12
    assert "End-to-end (up to 2 people, 2.00 per frame): 12 frames" in format_table(rows)
    (row,) = bench_lifter(load_weights(random_weights), ["eager"], steps=50, people=3)
    assert "3 people in one batch" in row["stage"] and row["median_ms"] > 0
