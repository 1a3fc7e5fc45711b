import threading
import time

import numpy as np
import pytest

from conftest import DEMO, truncated_video, write_video
from poselift.engine.live.sources import END, SourceError, VideoFileSource, WebcamSource, open_source, to_bgr
from poselift.videos import VideoError, probe_video


def test_file_delivers_every_frame_in_order_with_stream_timestamps(tmp_path):
    path = write_video(tmp_path / "v.mp4", frames=30, fps=25)
    source = VideoFileSource(path, queue_size=2).start()
    frames = []
    for frame in source:
        time.sleep(0.005)  # a slow consumer: the file must wait for it, not drop
        frames.append(frame)
    assert [f.index for f in frames] == list(range(30))
    assert np.allclose([f.timestamp for f in frames], np.arange(30) / 25, atol=1e-3)
    assert source.dropped == 0 and source.fps == 25 and source.frame_count == 30


def test_realtime_playback_keeps_the_newest_and_counts_drops(tmp_path):
    path = write_video(tmp_path / "v.mp4", frames=40, fps=100)
    source = VideoFileSource(path, pace=True, live=True).start()
    got = []
    for frame in source:
        time.sleep(0.03)  # three frame periods per frame
        got.append(frame.index)
    assert source.dropped > 10
    assert len(got) + source.dropped == 40
    assert got == sorted(got)


def test_pause_resume_seek_and_clean_stop(tmp_path):
    threads_before = threading.active_count()
    path = write_video(tmp_path / "v.mp4", frames=50, fps=25)
    source = VideoFileSource(path, queue_size=2).start()
    first = source.read(timeout=5)
    source.pause()
    time.sleep(0.2)
    while not source.queue.empty():
        source.queue.get_nowait()
    time.sleep(0.2)
    assert source.queue.empty()  # nothing is produced while paused
    source.seek(1.6)
    source.resume()
    after = source.read(timeout=5)
    assert first.timestamp == 0 and after.timestamp == pytest.approx(1.6, abs=0.05)
    source.stop()
    time.sleep(0.1)
    assert threading.active_count() == threads_before


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing.mp4", "does not exist"),
    (lambda p: (p / "notes.mp4").write_text("hello") and p / "notes.mp4", "is not a video file"),
    (lambda p: (p / "empty.mp4").write_bytes(b"") or p / "empty.mp4", "is not a video file"),
])
def test_bad_files_say_what_is_wrong(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        VideoFileSource(make(tmp_path)).start()


def test_truncated_video_keeps_what_decoded_and_says_where(tmp_path):
    cut = truncated_video(tmp_path, frames=120)
    source = VideoFileSource(cut).start()
    frames = []
    with pytest.raises(SourceError, match=r"ended after \d+ of its 120 frames|damaged after \d+ frames") as info:
        for frame in source:
            frames.append(frame)
    assert 10 < len(frames) < 120
    assert str(len(frames)) in str(info.value)


def test_grayscale_and_portrait_frames(tmp_path):
    path = write_video(tmp_path / "gray.mkv", frames=5, size=(64, 128), pix_fmt="gray", codec="ffv1")
    frames = list(VideoFileSource(path).start())
    assert len(frames) == 5 and frames[0].image.shape == (128, 64, 3)
    assert to_bgr(np.zeros((4, 4), np.uint8)).shape == (4, 4, 3)
    assert to_bgr(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4, 3)


def test_scaled_decoding_of_the_demo_clip():
    source = VideoFileSource(DEMO, max_width=640).start()
    frame = source.read(timeout=10)
    source.stop()
    assert frame.image.shape == (360, 640, 3) and source.fps == 30


def test_absent_webcam():
    with pytest.raises(SourceError, match="no webcam at index 97"):
        open_source("97").start()


class FlakyCapture:
    """A camera that delivers a few frames and then is unplugged."""

    def __init__(self, *_):
        self.left = 5

    def isOpened(self):
        return True

    def set(self, *_):
        return True

    def get(self, *_):
        return 30.0

    def read(self):
        self.left -= 1
        return (True, np.zeros((48, 64, 3), np.uint8)) if self.left >= 0 else (False, None)

    def release(self):
        pass


def test_webcam_unplugged_mid_run(monkeypatch):
    import cv2
    monkeypatch.setattr(cv2, "VideoCapture", FlakyCapture)
    source = WebcamSource(0, stall_seconds=0.3).start()
    items = []
    while True:
        item = source.read(timeout=5)
        items.append(item)
        if item is END:
            break
    source.stop()
    frames = [i for i in items if hasattr(i, "image")]
    errors = [i for i in items if isinstance(i, SourceError)]
    assert 1 <= len(frames) <= 5
    assert len(errors) == 1 and "webcam 0 stopped delivering frames" in str(errors[0])


def test_zero_frame_video(tmp_path):
    """A Matroska file with its video stream declared and no frame: cut where the first cluster begins."""
    path = write_video(tmp_path / "one.mkv", frames=1, codec="ffv1")
    raw = path.read_bytes()
    path.write_bytes(raw[: raw.index(bytes.fromhex("1F43B675"))])
    with pytest.raises(SourceError, match="empty"):
        list(VideoFileSource(path).start())


def test_4k_frames_are_scaled_on_the_decoding_thread(tmp_path):
    path = write_video(tmp_path / "uhd.mp4", frames=3, size=(3840, 2160))
    frames = list(VideoFileSource(path, max_width=640).start())
    assert len(frames) == 3 and frames[0].image.shape == (360, 640, 3)
    full = list(VideoFileSource(path).start())
    assert full[0].image.shape == (2160, 3840, 3)


def phone_video(path, upright, rotation_ccw: int = 90, frames: int = 6):
    """A video as phones write portrait takes: the frames stored turned clockwise, plus a display matrix
    that turns them back (``rotation_ccw`` degrees counter-clockwise)."""
    import av

    stored = np.ascontiguousarray(np.rot90(upright, -rotation_ccw // 90))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width = stored.shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(rotation_ccw)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_phone_videos_come_out_upright(tmp_path, rotation):
    upright = np.full((128, 64, 3), 30, np.uint8)  # portrait: a bright "head" at the top, a mark on the left
    upright[:32] = 230
    upright[64:96, :16] = 140
    path = phone_video(tmp_path / "phone.mp4", upright, rotation)
    source = VideoFileSource(path).start()
    frames = list(source)
    assert (source.width, source.height) == (64, 128) and source.rotation == rotation % 360
    assert len(frames) == 6 and frames[0].image.shape == (128, 64, 3)
    assert np.abs(frames[0].image.astype(int) - upright).mean() < 6
    half = VideoFileSource(path, max_width=32).start()
    assert next(iter(half)).image.shape == (64, 32, 3) and half.source_size == (64, 128)
    half.stop()
    info = probe_video(path, count=True)  # what the calibration and the multi-camera benchmark read
    assert (info.width, info.height, info.rotation, info.fps, info.frames) == (64, 128, rotation % 360, 25, 6)


def test_a_file_that_is_not_a_video_is_one_sentence(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(VideoError, match=r"^video .*notes.mp4 cannot be read \(\w+\): give an MP4/MOV"):
        probe_video(tmp_path / "notes.mp4")
