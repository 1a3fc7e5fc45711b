"""What a video file says of itself, read in one place: its frames' size as shown upright (phones store
portrait video as landscape frames and a display rotation), its frame rate and how many frames it holds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UserError


class VideoError(UserError, ValueError):
    """A video file that cannot be read; one sentence for the user."""


@dataclass(frozen=True)
class VideoInfo:
    width: int  # upright, the display rotation applied
    height: int
    rotation: int  # degrees counter-clockwise the stored frames are turned to be upright
    fps: float  # 0 when the file does not say
    frames: int  # 0 when the file does not say and counting was not asked for

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) upright."""
        return self.width, self.height


def probe_video(path: str | Path, count: bool = False) -> VideoInfo:
    """The video's upright size, rotation and rate, read from its first frame; with ``count``, its
    frames counted when the file does not say how many it holds."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            first = next(container.decode(stream), None)
            frames = stream.frames
        if first is not None and not frames and count:
            with av.open(str(path)) as container:
                frames = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
    except (av.FFmpegError, OSError, IndexError, UnicodeDecodeError) as e:
        raise VideoError(f"video {path} cannot be read ({e.__class__.__name__}): give an MP4/MOV the camera "
                         f"recorded.") from None
    if first is None:
        raise VideoError(f"video {path} has no frames: record it again.")
    rotation = display_rotation(first)
    turned = rotation in (90, 270)
    width, height = (first.height, first.width) if turned else (first.width, first.height)
    return VideoInfo(width, height, rotation, fps, frames)


def display_rotation(frame) -> int:
    """Degrees (0, 90, 180, 270) a decoded frame's display matrix turns it counter-clockwise to be upright:
    phones store portrait video as landscape frames and this rotation."""
    return round(getattr(frame, "rotation", 0) / 90) % 4 * 90
