"""`poselift calibrate`: frames of a board video or a webcam, handed to ``calibration.intrinsics``."""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np
from tqdm import tqdm

from ...calibration.intrinsics import Board, Calibration, calibrate
from .sources import Source, VideoFileSource, open_source

SEARCHED_FRAMES = 150  # of a video, spread over it: enough angles, and the search stays quick


def board_frames(source: Source, seconds: float, progress: bool = True) -> Iterator[np.ndarray]:
    """Images to search: about ``SEARCHED_FRAMES`` spread over a video, or every frame a webcam gives
    for ``seconds`` (it drops what the search is too slow for)."""
    video = isinstance(source, VideoFileSource)
    step = max(1, source.frame_count // SEARCHED_FRAMES) if video else 1
    end = time.monotonic() + seconds
    total = -(-source.frame_count // step) if video and source.frame_count else None
    with tqdm(total=total, disable=not progress, unit="frame", desc="looking for the board") as bar:
        for frame in source:
            if source.live and time.monotonic() > end:
                return
            if frame.index % step == 0:
                bar.update(1)
                yield frame.image


def calibrate_source(spec: str, board: Board, seconds: float = 20.0, progress: bool = True) -> Calibration:
    """Calibrate from a video file or a webcam index (as ``open_source`` takes it)."""
    source = open_source(spec).start()
    try:
        return calibrate(board_frames(source, seconds, progress), board)
    finally:
        source.stop()
