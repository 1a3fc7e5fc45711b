"""Frame sources, each on its own thread feeding a bounded queue.

A file blocks when the queue is full and drops nothing; a webcam keeps the newest frame and counts
what it dropped. Either ends with :data:`END` in the queue, preceded by a :class:`SourceError` item
when it broke (what was delivered before the fault stays delivered).
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...videos import display_rotation, lens_fov_deg

END = None  # the last item of every source's queue


class SourceError(UserError, RuntimeError):
    """A source could not be opened or stopped delivering; the message is one sentence for the user."""


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8 (H, W, 3)
    index: int  # 0, 1, 2, ... in delivery order
    t_capture: float  # time.perf_counter() when the frame was grabbed or decoded
    timestamp: float  # seconds on the source's own clock (stream time for files)
    lens_hfov_deg: float | None = None  # the lens's field of view across the longer side, where the file says


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Grayscale (H, W) or (H, W, 1) and BGRA frames become 3-channel BGR."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[..., :3] if image.shape[2] == 4 else image


class Source:
    """Threaded source base: subclasses implement ``_open`` and ``_frames`` (a generator)."""

    live = False
    lens_hfov_deg: float | None = None  # the lens's field of view, where the source knows it (Frame's too)

    def __init__(self, queue_size: int = 4):
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.delivered = 0
        self.fps = 30.0  # frames per second, as the source reports it once opened
        self._stop = threading.Event()
        self._gate = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._thread: threading.Thread | None = None

    def start(self) -> "Source":
        self._open()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._running.set()
        while self._thread and self._thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                self.queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
            timeout -= 0.05
            if timeout <= 0:
                break
        self._close()

    def read(self, timeout: float | None = None):
        """The next :class:`Frame`, a :class:`SourceError`, or :data:`END`."""
        return self.queue.get(timeout=timeout)

    def __iter__(self):
        """Frames until the end; raises the source's error after the frames it delivered."""
        while True:
            item = self.read()
            if item is END:
                return
            if isinstance(item, SourceError):
                raise item
            yield item

    def _run(self) -> None:
        try:
            for frame in self._frames():
                while not self._running.wait(0.05):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                if not self._discard():
                    self._put(frame)
        except SourceError as e:
            self._put_final(e)
        except Exception as e:  # a decoder or driver fault: say where it happened
            self._put_final(SourceError(f"{self.describe()} stopped at frame {self.delivered}: {e}"))
        finally:
            self._put_final(END)

    def _discard(self) -> bool:
        """True while a frame in hand has become stale (a seek is pending)."""
        return False

    def _put(self, frame: Frame) -> None:
        while not self._stop.is_set():
            with self._gate:  # a seek cannot slip between the staleness check and the put
                if self._discard():
                    return
                try:
                    self.queue.put_nowait(frame)
                    self.delivered += 1
                    return
                except queue.Full:
                    if self.live:
                        try:
                            self.queue.get_nowait()
                            self.dropped += 1
                        except queue.Empty:
                            pass
                        continue
            time.sleep(0.005)

    def _put_final(self, item) -> None:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return
            except queue.Full:
                if self.live:
                    try:
                        self.queue.get_nowait()
                    except queue.Empty:
                        pass

    def describe(self) -> str:
        raise NotImplementedError

    def _open(self) -> None:
        raise NotImplementedError

    def _frames(self):
        raise NotImplementedError

    def _close(self) -> None:
        pass


class VideoFileSource(Source):
    """A video file decoded with PyAV, timestamps from the stream."""

    def __init__(self, path: str | Path, queue_size: int = 8, max_width: int | None = None,
                 pace: bool = False, live: bool = False):
        super().__init__(2 if live else queue_size)
        self.path = Path(path)
        self.pace = pace  # release frames at their timestamps (playback speed) rather than as decoded
        self.live = live  # like a camera: the newest frame wins and drops are counted
        self.max_width = max_width  # frames wider than this are scaled down on the decoding thread
        self._container = None
        self._decoding = None  # the file's frames, decoded one by one from the start (the first on opening) or the last seek
        self._seek_to: float | None = None  # set by seek(), taken by the decoding thread (under _gate)
        self._seeked = False
        self._clock: tuple[float, float] | None = None  # (perf_counter, stream time) of the pacing origin
        self.duration = 0.0
        self.frame_count = 0
        self.width = self.height = 0  # of the delivered (upright, scaled) frames
        self.rotation = 0  # degrees counter-clockwise the stored frames are turned to be upright
        self.source_size = (0, 0)  # upright (width, height) in the file's own pixels

    def describe(self) -> str:
        return f"video {self.path}"

    def _open(self) -> None:
        import av

        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist: check the path.")
        try:
            self._container = av.open(str(self.path))
        except av.error.EOFError as e:
            raise SourceError(f"video {self.path} ends before its first frame: the file is empty or cut short.") from e
        except (av.error.FFmpegError, UnicodeDecodeError) as e:
            raise SourceError(f"{self.path} is not a video file FFmpeg can read ({e.__class__.__name__}): "
                              f"open an MP4, MOV, MKV, AVI or WebM file.") from e
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.path} has no video stream: open a file with video in it.")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self.fps = float(stream.average_rate or stream.guessed_rate or 30.0)
        decoding = self._container.decode(stream)
        first = self._first_frame(decoding)
        self._decoding = itertools.chain([first] if first is not None else [], decoding)
        self.rotation = display_rotation(first) if first is not None else 0
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        if self.rotation in (90, 270):
            self.width, self.height = self.height, self.width
        self.source_size = (self.width, self.height)
        self.lens_hfov_deg = lens_fov_deg(self.path, self.width, self.height)
        self.frame_count = stream.frames
        if stream.duration and stream.time_base:
            self.duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            self.duration = self._container.duration / 1e6
        if not self.frame_count and self.duration:
            self.frame_count = int(round(self.duration * self.fps))
        if self.max_width and self.width > self.max_width:
            self.height = 2 * round(self.height * self.max_width / self.width / 2)
            self.width = self.max_width

    @staticmethod
    def _first_frame(decoding):
        """The first frame, decoded on opening for its display rotation and delivered first by the
        decoding thread; None where it cannot be decoded (the decoding thread then says what is wrong)."""
        import av

        try:
            return next(decoding, None)
        except (av.error.FFmpegError, UnicodeDecodeError):
            return None

    def seek(self, seconds: float) -> None:
        """Jump to the frame at ``seconds`` (takes effect on the decoding thread)."""
        with self._gate:
            self._seek_to = max(0.0, seconds)
            while True:  # what was queued before the jump is stale
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is END or isinstance(item, SourceError):
                    self.queue.put_nowait(item)
                    break

    def _frames(self):
        import av

        stream = self._container.streams.video[0]
        tb = float(stream.time_base) if stream.time_base else 1.0 / self.fps
        while True:
            target = None
            try:
                for vf in self._decoding:
                    with self._gate:
                        target, self._seek_to = self._seek_to, None
                    if target is not None or self._stop.is_set():
                        break
                    t = float(vf.pts * tb) if vf.pts is not None else self.delivered / self.fps
                    yield Frame(self._image(vf), self.delivered, time.perf_counter(), t, self.lens_hfov_deg)
            except av.error.FFmpegError as e:
                raise SourceError(f"video {self.path} is damaged after {self.delivered} frames "
                                  f"({e.__class__.__name__}); the frames before are kept.") from e
            if target is None:
                break
            self._seeked = True
            self._container.seek(int(target / tb), stream=stream, backward=True)
            self._decoding = self._container.decode(stream)
            yield from self._skip_to(target, tb)
        if self.delivered == 0:
            raise SourceError(f"video {self.path} holds no decodable frames: the file is empty or damaged.")
        if not self._seeked and self.frame_count and self.delivered < self.frame_count - max(2, self.frame_count // 50):
            raise SourceError(f"video {self.path} ended after {self.delivered} of its {self.frame_count} frames: "
                              f"the file looks truncated; the frames before are kept.")

    def _skip_to(self, target: float, tb: float):
        """After a keyframe seek, decode forward to the first frame at or after ``target``."""
        for vf in self._decoding:
            t = float(vf.pts * tb) if vf.pts is not None else target
            if t + 0.5 / self.fps >= target:
                yield Frame(self._image(vf), self.delivered, time.perf_counter(), t, self.lens_hfov_deg)
                return

    def _put(self, frame: Frame) -> None:
        if self.pace:
            if self._clock is None or frame.timestamp < self._clock[1]:  # first frame, or after a seek back
                self._clock = (time.perf_counter(), frame.timestamp)
            delay = self._clock[0] + (frame.timestamp - self._clock[1]) - time.perf_counter()
            if delay > 0 and not self._stop.wait(delay):
                frame.t_capture = time.perf_counter()
        super()._put(frame)

    def _discard(self) -> bool:
        return self._seek_to is not None

    def _image(self, vf) -> np.ndarray:
        turns = self.rotation // 90
        w, h = (self.height, self.width) if turns % 2 else (self.width, self.height)
        image = to_bgr(vf.to_ndarray(format="bgr24", width=w, height=h))
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def _close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class WebcamSource(Source):
    """A camera by index through OpenCV; live, so the newest frame wins."""

    live = True

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None,
                 queue_size: int = 2, stall_seconds: float = 3.0):
        super().__init__(queue_size)
        self.index = index
        self.size = (width, height)
        self.stall_seconds = stall_seconds
        self._cap = None

    def describe(self) -> str:
        return f"webcam {self.index}"

    def _open(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"no webcam at index {self.index}: plug one in or choose another camera.")
        if self.size[0]:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._cap = cap

    def _frames(self):
        t0 = time.perf_counter()
        last_ok = t0
        while not self._stop.is_set():
            ok, image = self._cap.read()
            now = time.perf_counter()
            if not ok or image is None:
                if now - last_ok > self.stall_seconds:
                    raise SourceError(f"webcam {self.index} stopped delivering frames (unplugged?): "
                                      f"reconnect it and start again.")
                time.sleep(0.01)
                continue
            last_ok = now
            yield Frame(to_bgr(image), self.delivered, now, now - t0)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(spec: str | int, max_width: int | None = None, pace: bool = False) -> Source:
    """A webcam for an integer (or a string of digits), a video file otherwise (``pace``: played at its
    own frame rate, as a camera would deliver it, no frame dropped)."""
    if isinstance(spec, int) or str(spec).isdigit():
        return WebcamSource(int(spec))
    return VideoFileSource(spec, max_width=max_width, pace=pace)
