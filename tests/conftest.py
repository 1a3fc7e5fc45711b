import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("POSELIFT_DATA") or Path(__file__).resolve().parents[2] / "shared/data/h36m")
needs_h36m = pytest.mark.skipif(not (DATA / "poses_3d.npz").is_file(),
                                reason=f"Human3.6M data not found at {DATA}: set POSELIFT_DATA to run these tests.")


BANDAI = Path(os.environ.get("POSELIFT_BANDAI") or Path(__file__).resolve().parents[2] / "shared/data/bandai")
needs_bandai = pytest.mark.skipif(not (BANDAI / "bandai1.npz").is_file() or not (BANDAI / "bandai2.npz").is_file(),
                                  reason=f"Bandai mocap not found at {BANDAI}: set POSELIFT_BANDAI to run these tests.")


class FedKeypoints:
    """A stand-in 2D front end: each frame's people are ``people_of(image)``."""

    def __init__(self, people_of, num_poses: int = 2, smooths_landmarks: bool = False):
        self.people_of, self.num_poses, self.smooths_landmarks = people_of, num_poses, smooths_landmarks

    def __call__(self, image, timestamp=None):
        return self.people_of(image)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def s9():
    from poselift.models.h36m import load_sequences
    return load_sequences(["S9"], DATA)


DEMO = Path(__file__).resolve().parents[1] / "assets" / "walk_outdoor.mp4"


def write_video(path, frames: int = 20, size=(96, 64), fps: int = 25, pix_fmt: str = "yuv420p", codec: str = "libx264",
                metadata: dict | None = None):
    """A small synthetic video whose frame i has a bright square at x = 2 i (for checking order); with
    ``metadata``, these keys in the file's QuickTime metadata, as a phone writes them."""
    import av
    import numpy as np

    w, h = size
    with av.open(str(path), "w", options={"movflags": "use_metadata_tags"} if metadata else None) as out:
        out.metadata.update(metadata or {})
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        for i in range(frames):
            img = np.full((h, w, 3), 40, np.uint8)
            img[h // 4: h // 2, 2 * i % (w - 8): 2 * i % (w - 8) + 8] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def demo_segment(path, frames: int):
    """The demo clip's first ``frames`` frames at 640x360, as an H.264 MP4."""
    return demo_cut(path, 0, frames)


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A randomly initialised lifter of the shipped architecture, for tests that check plumbing."""
    import torch

    from poselift.models.checkpoint import save_weights
    from poselift.models.lifter import LifterSpec, TemporalLifter

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_weights(path, TemporalLifter(LifterSpec()).eval())
    return path


@pytest.fixture(scope="session")
def random_refiner(tmp_path_factory):
    """A random diffusion refiner whose corrections are not zero (plumbing tests)."""
    import torch

    from poselift.models.checkpoint import save_weights
    from poselift.models.refiner import Denoiser, RefinerSpec

    torch.manual_seed(0)
    model = Denoiser(RefinerSpec(window=9, hidden=64, blocks=1)).eval()
    torch.nn.init.normal_(model.out[1].weight, std=0.05)
    path = tmp_path_factory.mktemp("weights") / "refiner.pt"
    save_weights(path, model)
    return path


# A standing H36M-17 pose, camera axes (x right, y down, z forward), mm, pelvis at the origin.
TEMPLATE = [(0, 0, 0), (-130, 0, 0), (-130, 440, 0), (-130, 880, 0), (130, 0, 0), (130, 440, 0), (130, 880, 0),
            (0, -230, 0), (0, -480, 0), (0, -600, -20), (0, -720, 0), (170, -450, 0), (190, -170, 0),
            (200, 80, 0), (-170, -450, 0), (-190, -170, 0), (-200, 80, 0)]


def synthetic_clip(frames: int = 60, gaps=(10, 11, 12), fps: float = 30.0):
    """A person turning on the spot with swinging arms: constant bone lengths, and frames ``gaps``
    without a person."""
    import numpy as np

    from poselift.engine.outputs.clip import Clip
    base = np.array(TEMPLATE, float)
    poses = []
    for t in range(frames):
        pose = base.copy()
        swing = 0.6 * np.sin(t / 6)
        for shoulder, elbow, wrist in ((11, 12, 13), (14, 15, 16)):
            c, s = np.cos(swing), np.sin(swing)
            rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
            pose[[elbow, wrist]] = (pose[[elbow, wrist]] - pose[shoulder]) @ rot.T + pose[shoulder]
        a = t / 20
        turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        poses.append(pose @ turn.T)
    pose3d = np.array(poses, np.float32).reshape(frames, 17, 3)
    pose3d[list(gaps)] = np.nan
    kp = pose3d[..., :2] / 5 + 300
    conf = np.where(np.isnan(pose3d[..., 0]), 0, 0.9).astype(np.float32)
    sigma = np.where(np.isnan(pose3d[..., 0]), np.nan, 25).astype(np.float32)
    return Clip(pose3d, np.nan_to_num(kp).astype(np.float32), conf, sigma, np.arange(frames) / fps, fps,
                None, {"skeleton": "h36m17", "units": "mm", "camera": {"width": 640, "height": 360}})


def truncated_video(tmp_path, frames: int = 120, size=(320, 240)):
    """A streamable (Matroska) video cut in the middle: its first part still decodes."""
    import av

    whole = write_video(tmp_path / "whole.mp4", frames=frames, size=size)
    cut = tmp_path / "cut.mkv"
    with av.open(str(whole)) as src, av.open(str(cut), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    raw = cut.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    return cut


def grounded_clip(frames: int = 90, fps: float = 30.0, gaps=(40, 41), pitch_deg: float = 12.0,
                  camera_height_mm: float = 1500.0):
    """A person (the TEMPLATE pose, legs swinging) walking 3 m along the camera's x axis, 5 m in front
    of a camera pitched down ``pitch_deg`` and ``camera_height_mm`` above the floor, as a grounded clip;
    also returns the world truth (N, 17, 3) mm (Y up, floor 0, the camera's foot point at the origin)."""
    import numpy as np

    from poselift.calibration.floor import Ground, up_from_tilt
    from poselift.engine.outputs.clip import Clip
    base = np.array(TEMPLATE, float) * [1, -1, -1]  # Y up, facing the camera
    world = []
    for t in range(frames):
        pose = base.copy()
        swing = 0.4 * np.sin(2 * np.pi * t / fps)
        for hip, knee, ankle, sign in ((1, 2, 3, 1), (4, 5, 6, -1)):
            c, s = np.cos(sign * swing), np.sin(sign * swing)
            rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
            pose[[knee, ankle]] = (pose[[knee, ankle]] - pose[hip]) @ rot.T + pose[hip]
        world.append(pose + [-1500 + 3000 * t / (frames - 1), 950 - 70 + 66, -5000])
    world = np.array(world)
    ground = Ground(tuple(up_from_tilt(pitch_deg)), camera_height_mm)
    cam = (world - [0, camera_height_mm, 0]) @ ground.rotation  # rows of the rotation: camera -> world
    pose3d = (cam - cam[:, :1]).astype(np.float32)
    trajectory = cam[:, 0].astype(np.float32)
    pose3d[list(gaps)] = np.nan
    trajectory[list(gaps)] = np.nan
    f, c = 1000.0, np.array([640.0, 360.0])
    kp = cam[..., :2] / cam[..., 2:] * f + c
    conf = np.where(np.isnan(pose3d[..., 0]), 0, 0.9).astype(np.float32)
    meta = {"skeleton": "h36m17", "units": "mm", "camera": {"f": [f, f], "c": c.tolist(), "width": 1280, "height": 720},
            "world": {"height_m": 1.7, "ground": ground.to_dict()}}
    contacts = np.zeros((frames, 2), bool)
    clip = Clip(pose3d, kp.astype(np.float32), conf, np.full((frames, 17), 25, np.float32), np.arange(frames) / fps,
                fps, None, meta, None, trajectory, np.ones(frames, np.float32), contacts)
    return clip, world


def demo_cut(path, start: int = 0, frames: int = 15, width: int = 640):
    """Frames ``start`` to ``start + frames`` of the demo clip, scaled to ``width``, as an H.264 MP4."""
    import av

    from poselift.engine.live.sources import VideoFileSource

    source = VideoFileSource(DEMO, max_width=width).start()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        for i, frame in zip(range(start + frames), source):
            if i >= start:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame.image, format="bgr24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    source.stop()
    return path
