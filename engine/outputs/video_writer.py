"""H.264 MP4 writing through PyAV (OpenCV's own writer offers only mp4v here)."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np


class VideoWriter:
    """Writes BGR frames of one fixed, even size to an H.264 MP4 at ``fps``; finishes atomically."""

    def __init__(self, path: str | Path, fps: float, crf: int = 23):
        import av

        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part.mp4")
        self._container = av.open(str(self._tmp), mode="w")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, image_bgr: np.ndarray) -> None:
        import av

        h, w = image_bgr.shape[:2]
        if self._size is None:
            if w % 2 or h % 2:
                raise ValueError(f"H.264 needs even frame sizes, got {w}x{h}.")
            self._stream.width, self._stream.height = self._size = (w, h)
        elif (w, h) != self._size:
            raise ValueError(f"frame size {w}x{h} differs from the video's {self._size[0]}x{self._size[1]}.")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image_bgr), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the unfinished file."""
        self._container.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
