"""Live streaming of the followed person: every frame reaches a real OSC (VMC) receiver and real WebSocket
clients on 127.0.0.1, in order and with the clip's values; a receiver leaving stops no other; bad targets
and a port in use are one sentence; ``poselift stream`` streams a short video and exits 0."""
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import TEMPLATE, demo_segment
from poselift.engine.live.keypoints import Keypoints
from poselift.engine.live.pipeline import Result, absent
from poselift.engine.outputs.stream import Lane, Streamer
from poselift.engine.outputs.stream_bench import OscReceiver, Page, free_port
from poselift.engine.outputs.targets import StreamError, Target, parse_target
from poselift.engine.outputs.vmc import to_unity_points, to_unity_rotations, unity_bone_name
from poselift.models.humanoid import Humanoid
from poselift.models.skeletons import H36M

FPS = 30.0


def clip_results(frames: int = 20, missing=(7,)) -> list[Result]:
    """A person (camera axes, mm) raising an arm and stepping sideways; nobody in the frames ``missing``."""
    out = []
    for i in range(frames):
        if i in missing:
            out.append(absent(i, i / FPS, 0.0, 0.0, (640, 360), person_id=0))
            continue
        pose = np.array(TEMPLATE, float)
        pose[[12, 13]] += [0, -8.0 * i, 5.0 * i]  # the left elbow and wrist go up and forward
        pose += [10.0 * i, 0, 0]
        out.append(Result(i, i / FPS, 0.0, 0.0, (640, 360), True, np.zeros((17, 2)), np.ones(17), pose,
                          np.full(17, 20.0), Keypoints.empty(), person_id=0))
    return out


def expected_joints(result: Result) -> np.ndarray:
    """Y up, Z towards the camera, metres, set down on Y = 0 (the clip is not grounded)."""
    joints = result.pose3d * [1, -1, -1] / 1000
    return joints - [0, joints[:, 1].min(), 0]


def wait_until(condition, timeout=5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def play(streamer: Streamer, results, between=None):
    """The results at the clip's rate, as the pipeline hands them over."""
    for i, r in enumerate(results):
        r.t_result = time.perf_counter()
        streamer.send(r)
        if between:
            between(i)
        time.sleep(1 / FPS)


@pytest.fixture
def osc():
    receiver = OscReceiver()
    yield receiver
    receiver.close()


def test_targets_are_urls_and_bad_ones_are_one_sentence():
    assert parse_target("vmc://127.0.0.1:39539") == Target("vmc", "127.0.0.1", 39539)
    assert str(parse_target(" ws://0.0.0.0:8765 ")) == "ws://0.0.0.0:8765"
    for bad, says in (("http://localhost:80", "is not a stream target"), ("vmc://localhost", "needs a host and a port"),
                      ("ws://:8765", "needs a host and a port"), ("vmc://localhost:70000", "from 1 to 65535"),
                      ("localhost:39539", "is not a stream target")):
        with pytest.raises(StreamError, match=says) as e:
            parse_target(bad)
        assert not re.search(r"\.\s+[A-Z]", str(e.value)) and str(e.value).endswith(".")  # one sentence
    with pytest.raises(StreamError, match="cannot be found"):
        Streamer([parse_target("vmc://no-such-host.invalid:39539")])


def test_unity_axes_mirror_x():
    assert unity_bone_name("leftUpperLeg") == "LeftUpperLeg" and unity_bone_name("hips") == "Hips"
    rng = np.random.default_rng(0)
    q = Rotation.random(50, random_state=1).as_quat()  # xyzw
    v = rng.normal(size=(50, 3))
    rotated_then_mirrored = to_unity_points(Rotation.from_quat(q).apply(v))
    mirrored_then_rotated = Rotation.from_quat(to_unity_rotations(q)).apply(to_unity_points(v))
    assert np.allclose(rotated_then_mirrored, mirrored_then_rotated)
    # A person turned 90 degrees to their left (right-handed: +Y) faces +X here; in Unity the avatar's left is -X.
    turn_left = Rotation.from_euler("y", 90, degrees=True).as_quat()
    assert np.allclose(Rotation.from_quat(to_unity_rotations(turn_left)).apply([0, 0, 1]), [-1, 0, 0])
    assert np.allclose(to_unity_points([0.13, 0.9, 0.2]), [-0.13, 0.9, 0.2])  # the left hip at Unity's -X


def test_a_grounded_person_is_streamed_where_they_stand_in_the_world():
    from poselift.calibration.floor import Ground, up_from_tilt
    from poselift.engine.live.world import WorldFrame
    from poselift.engine.outputs.stream_frame import frame_of

    result = clip_results(1)[0]
    ground = Ground(tuple(up_from_tilt(10.0)), 1500.0)
    result.world = WorldFrame(np.array([300.0, 500.0, 4000.0]), 1.0, ground, np.array([True, True]))
    frame = frame_of(result, Humanoid())
    assert frame.grounded and np.allclose(frame.joints, ground.to_world(result.pose3d + result.world.root_mm) / 1000)
    result.world = WorldFrame(result.world.root_mm, 1.0, None, result.world.contacts)  # no floor yet
    frame = frame_of(result, Humanoid())
    assert not frame.grounded and np.allclose(frame.joints, expected_joints(result))


def test_every_frame_reaches_an_osc_receiver_and_a_page_in_order_with_the_clips_values(osc):
    results = clip_results()
    ws = free_port()
    streamer = Streamer([parse_target(f"vmc://127.0.0.1:{osc.port}"), parse_target(f"ws://127.0.0.1:{ws}")])
    page = Page(ws)
    assert wait_until(lambda: streamer.lanes[1].sender.clients == 1)
    play(streamer, results)
    assert wait_until(lambda: len(osc.frames()) == len(results) and len(page.messages) == len(results))
    streamer.close()
    page.close()
    humanoid = Humanoid()
    bones = [unity_bone_name(b) for b in humanoid.bones]
    for r, frame, message in zip(results, osc.frames(), page.messages):
        time_args = frame[-1][1]
        assert time_args[0] == pytest.approx(r.timestamp, abs=1e-6) and message["frame"] == r.index
        assert frame[0] == ("/VMC/Ext/Root/Pos", ("root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
        assert frame[-2] == ("/VMC/Ext/OK", (1, 3, 0, int(r.person)))
        assert message["time"] == pytest.approx(r.timestamp, abs=1e-6) and message["person"] == 0
        assert message["seen"] == r.person and not message["grounded"]
        if not r.person:  # the avatar holds its pose: no bones
            assert len(frame) == 3 and message["joints"] == {} and message["bones"] == {}
            continue
        joints = expected_joints(r)
        rotations = humanoid.local_rotations(joints[None])[0]
        sent = [args for address, args in frame if address == "/VMC/Ext/Bone/Pos"]
        assert [args[0] for args in sent] == bones
        assert np.allclose([args[4:] for args in sent], to_unity_rotations(rotations), atol=1e-6)
        hips = humanoid.hips_position(joints[None])[0]
        assert np.allclose(sent[0][1:4], to_unity_points(hips), atol=1e-6)
        assert np.allclose([message["joints"][j] for j in H36M.joints], joints, atol=1e-5)
        assert np.allclose([message["bones"][b] for b in humanoid.bones], rotations, atol=1e-5)
        assert np.allclose(message["hips"], hips, atol=1e-5)


def test_a_page_that_leaves_stops_no_one_else(osc):
    results = clip_results(missing=())
    ws = free_port()
    streamer = Streamer([parse_target(f"ws://127.0.0.1:{ws}"), parse_target(f"vmc://127.0.0.1:{osc.port}")])
    stays, leaves = Page(ws), Page(ws)
    assert wait_until(lambda: streamer.lanes[0].sender.clients == 2)

    def leave(i):
        if i == 5:
            leaves.connection.socket.close()  # gone without a goodbye, as a closed laptop

    play(streamer, results, leave)
    assert wait_until(lambda: len(stays.messages) == len(results) and len(osc.frames()) == len(results))
    assert [m["frame"] for m in stays.messages] == list(range(len(results)))
    assert len(leaves.messages) <= 7
    assert wait_until(lambda: streamer.lanes[0].sender.clients == 1)
    streamer.close()
    stays.close()


class Failing:
    """A sender whose network is down for the first frames."""
    target = Target("vmc", "10.255.255.1", 39539)

    def __init__(self, down_for: int):
        self.down_for, self.sent = down_for, []

    def send(self, frame):
        if self.down_for:
            self.down_for -= 1
            raise OSError(101, "Network is unreachable")
        self.sent.append(frame.index)

    def close(self):
        pass


def test_a_failing_receiver_is_reported_once_and_the_stream_goes_on(osc):
    reports = []
    failing = Failing(down_for=5)
    streamer = Streamer([failing, parse_target(f"vmc://127.0.0.1:{osc.port}")], report=reports.append)
    play(streamer, clip_results(10, missing=()))
    assert wait_until(lambda: len(osc.frames()) == 10 and len(failing.sent) == 5)
    streamer.close()
    assert failing.sent == list(range(5, 10))
    assert len(reports) == 1 and "vmc://10.255.255.1:39539" in reports[0] and "Network is unreachable" in reports[0]


def test_a_slow_receiver_drops_its_own_frames_and_never_holds_up_the_caller():
    class Slow:
        target = Target("vmc", "127.0.0.1", 9)

        def __init__(self):
            self.sent = []

        def send(self, frame):
            time.sleep(0.05)
            self.sent.append(frame)

        def close(self):
            pass

    slow = Slow()
    lane = Lane(slow, print, depth=2)
    t0 = time.perf_counter()
    for i in range(20):
        lane.put(i)
    assert time.perf_counter() - t0 < 0.05
    lane.close()
    assert lane.dropped >= 15 and slow.sent[-1] == 19 and slow.sent == sorted(slow.sent)


def test_a_port_in_use_is_one_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StreamError, match=f"port {port} on 127.0.0.1 is already in use") as e:
            Streamer([parse_target(f"ws://127.0.0.1:{port}")])
        assert f"ws://127.0.0.1:{port + 1}" in str(e.value)


def stream_command(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "poselift", "stream", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_the_command_streams_a_short_video_to_an_osc_receiver_and_exits_0(tmp_path, osc, random_weights):
    video = demo_segment(tmp_path / "walker.mp4", 12)
    done = stream_command(video, "--to", f"vmc://127.0.0.1:{osc.port}", "--weights", random_weights, "--width", 320)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "12 frames streamed" in done.stdout
    assert wait_until(lambda: len(osc.frames()) == 12)
    times = [frame[-1][1][0] for frame in osc.frames()]
    assert times == sorted(times) and times[-1] == pytest.approx(11 / 30, abs=1e-3)
    assert any(len(frame) > 3 for frame in osc.frames())  # the man's bones


def test_the_command_refuses_bad_targets_and_a_taken_port_with_exit_2(tmp_path):
    bad = stream_command("0", "--to", "osc://localhost:39539", timeout=120)
    assert bad.returncode == 2 and "is not a stream target" in bad.stderr and "Traceback" not in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = stream_command(tmp_path / "none.mp4", "--to", f"ws://127.0.0.1:{port}", timeout=120)
    assert busy.returncode == 2 and "already in use" in busy.stderr and "Traceback" not in busy.stderr


def test_the_apps_stream_flag_is_the_commands_own():
    bad = subprocess.run([sys.executable, "-m", "poselift.app.main", "--stream", "vmc://localhost"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "needs a host and a port" in bad.stderr and "Traceback" not in bad.stderr
    shown = subprocess.run([sys.executable, "-m", "poselift.app.main", "--help"], capture_output=True, text=True,
                           timeout=120, check=False)
    assert "--stream URL" in shown.stdout and "VSeeFace" in shown.stdout
