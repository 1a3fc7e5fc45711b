"""What a video file says of itself, read in one place: its frames' size as shown upright (phones store
portrait video as landscape frames and a display rotation), its frame rate, how many frames it holds and,
where the camera wrote it, its lens."""
from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

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


# iPhones write the lens into their videos' QuickTime metadata, in the file's or the video track's own
# ``meta`` atom, under this key (AVFoundation's QuickTimeMetadataCameraFocalLength35mmEquivalent).
FOCAL_35MM_KEY = b"com.apple.quicktime.camera.focal_length.35mm_equivalent"
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # what a 35 mm-equivalent focal length is relative to
FOCAL_35MM_RANGE = (8.0, 1200.0)  # from fisheyes to long telephotos; anything else is not a lens
_ATOMS_WITH_CHILDREN = {b"moov", b"trak", b"udta", b"meta"}
_MOOV_MAX_BYTES = 64 << 20  # a movie header is kilobytes to a few megabytes


def lens_fov_deg(path: str | Path, width: int, height: int) -> float | None:
    """The field of view (deg) across the longer side of the video's ``width`` x ``height`` frames, from
    the 35 mm-equivalent focal length the camera wrote into the file (iPhones do); None when it did not.
    Such a focal length is defined on a full frame's diagonal, so in pixels it is that share of the
    picture's diagonal."""
    try:
        with open(path, "rb") as f:
            focal = _focal_35mm(f)
    except (OSError, struct.error):
        return None
    if focal is None or not FOCAL_35MM_RANGE[0] <= focal <= FOCAL_35MM_RANGE[1]:
        return None
    focal_px = focal / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)
    return math.degrees(2 * math.atan(0.5 * max(width, height) / focal_px))


def _focal_35mm(f: BinaryIO) -> float | None:
    """The lens's 35 mm-equivalent focal length from the file's movie header (``moov``), found among the
    top-level atoms without reading the media data between them."""
    at, end = 0, f.seek(0, 2)
    while True:
        f.seek(at)
        atom = _atom(f.read(16), end - at)
        if atom is None:
            return None
        kind, header, size = atom
        if kind == b"moov":
            if size > _MOOV_MAX_BYTES:
                return None
            f.seek(at)
            return _find_focal(f.read(size), header, size)
        at += size


def _atom(head: bytes, room: int) -> tuple[bytes, int, int] | None:
    """(type, header length, size) of the atom that starts with ``head`` (its first 16 bytes or fewer),
    with ``room`` bytes left where it stands; None where no whole atom fits."""
    if len(head) < 8:
        return None
    size, kind = struct.unpack_from(">I4s", head)
    header = 8
    if size == 1 and len(head) >= 16:  # a 64-bit size follows
        size, header = struct.unpack_from(">Q", head, 8)[0], 16
    elif size == 0:  # to the end of its parent
        size = room
    return (kind, header, size) if header <= size <= room else None


def _children(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each atom in ``buf[start:end]``."""
    at = start
    while (atom := _atom(buf[at:at + 16], end - at)) is not None:
        kind, header, size = atom
        yield kind, at + header, at + size
        at += size


def _find_focal(buf: bytes, start: int, end: int) -> float | None:
    """The focal length in the first ``meta`` atom under ``buf[start:end]`` that holds it, depth first."""
    for kind, a, b in _children(buf, start, end):
        if kind == b"meta" and buf[a:a + 4] == b"\0\0\0\0":  # MP4's meta has a version and flags; QuickTime's not
            a += 4
        focal = _focal_in_meta(buf, a, b) if kind == b"meta" else None
        if focal is None and kind in _ATOMS_WITH_CHILDREN:
            focal = _find_focal(buf, a, b)
        if focal is not None:
            return focal
    return None


def _focal_in_meta(buf: bytes, start: int, end: int) -> float | None:
    """The focal length in one ``meta`` atom: ``keys`` names the items, ``ilst`` holds their values, each
    under its key's number."""
    parts = {kind: (a, b) for kind, a, b in _children(buf, start, end)}
    if b"keys" not in parts or b"ilst" not in parts:
        return None
    a, b = parts[b"keys"]
    count, at, number = struct.unpack_from(">I", buf, a + 4)[0], a + 8, None
    for index in range(1, count + 1):
        size = struct.unpack_from(">I", buf, at)[0]
        if size < 8 or at + size > b:
            return None
        if buf[at + 8: at + size] == FOCAL_35MM_KEY:
            number = index
        at += size
    for kind, a, b in _children(buf, *parts[b"ilst"]):
        if number is not None and struct.unpack(">I", kind)[0] == number:
            for data_kind, da, db in _children(buf, a, b):
                if data_kind == b"data":
                    return _number(struct.unpack_from(">I", buf, da)[0] & 0xFFFFFF, buf[da + 8: db])
    return None


def _number(kind: int, value: bytes) -> float | None:
    """A QuickTime metadata value of a well-known type as a number: UTF-8 text such as "26" or "50.00mm",
    a big-endian float, or a signed or unsigned integer."""
    if kind == 1:
        match = re.match(rb"\s*(\d+(?:\.\d+)?)", value)
        return float(match.group(1)) if match else None
    if kind in (23, 24) and len(value) in (4, 8):
        return struct.unpack(">f" if len(value) == 4 else ">d", value)[0]
    if kind in (21, 22) and len(value) in (1, 2, 4, 8):
        return float(int.from_bytes(value, "big", signed=kind == 21))
    return None
