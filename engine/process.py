"""Offline processing of a video file: every frame through the live pipeline, nothing dropped.

The clip is saved as it grows, flagged ``partial`` in its meta, so that a kill keeps what was done;
the finished run replaces it with the whole clip. Earlier outputs are never overwritten unasked.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..calibration import CalibrationError
from ..models.skeletons import H36M
from .clip import Clip
from .pipeline import Pipeline
from .render import compose
from .sources import SourceError, VideoFileSource
from .video_writer import VideoWriter


class ProcessError(ValueError):
    """An earlier output is in the way, or the video gave nothing to lift; one sentence for the user."""


def check_outputs(paths: list[Path], force: bool) -> None:
    """Refuse, in one sentence, to overwrite earlier outputs unless ``force``."""
    there = [str(p) for p in paths if p.exists()]
    if there and not force:
        raise ProcessError(f"{', '.join(there)} already {'exists' if len(there) == 1 else 'exist'} from an earlier "
                           f"run: choose another output folder with -o or pass --force to overwrite.")


class ProgressiveClip:
    """Saves the results so far, flagged partial, every ``interval`` seconds; the interval grows to
    ten times the save's own duration, so that saving a long clip again and again stays a small cost."""

    def __init__(self, path: Path, fps: float, meta: dict, pixel_scale: tuple[float, float],
                 interval: float = 5.0):
        self.path, self.fps, self.meta, self.pixel_scale, self.interval = path, fps, meta, pixel_scale, interval
        self._last = time.monotonic()

    def update(self, results: list, expected: int) -> None:
        if time.monotonic() - self._last >= self.interval:
            t0 = time.monotonic()
            self.save_partial(results, expected)
            self._last = time.monotonic()
            self.interval = max(self.interval, 10 * (self._last - t0))

    def save_partial(self, results: list, expected: int) -> None:
        """``expected``: the video's frame count (0 when it does not say)."""
        if results:
            self.save(results, {"partial": True, "frames_expected": expected or None})

    def save(self, results: list, extra: dict | None = None) -> Path:
        clip = Clip.from_results(results, self.fps, {**self.meta, **(extra or {})}, self.pixel_scale)
        return clip.save(self.path)


@dataclass
class ProcessReport:
    clip_path: Path
    video_path: Path | None
    frames: int
    frames_with_person: int
    frames_repaired: int = 0  # frames where a left/right label swap was swapped back
    error: str | None = None  # the source's fault, if it broke part-way (what came before is kept)


def render_result(image, result, height: int = 720):
    return compose(image, result.keypoints, result.confidence, result.pose3d, result.uncertainty, H36M, height)


def process_video(path: str | Path, out_dir: str | Path, pipeline: Pipeline, model_info: dict,
                  render: bool = True, progress: bool = True, max_width: int | None = None,
                  force: bool = False, save_every: float = 5.0) -> ProcessReport:
    """``save_every``: seconds between saves of the clip so far (flagged partial)."""
    path, out_dir = Path(path), Path(out_dir)
    clip_path = out_dir / f"{path.stem}_3d.npz"
    video_path = out_dir / f"{path.stem}_3d.mp4" if render else None
    check_outputs([p for p in (clip_path, video_path) if p], force)
    source = VideoFileSource(path, max_width=max_width)
    source.start()  # raises SourceError for a missing or unreadable file before anything is written
    try:
        saver = ProgressiveClip(clip_path, source.fps, clip_meta(path, source, pipeline, model_info),
                                pixel_scale(source), save_every)
    except CalibrationError:  # a calibration for another frame shape: said before anything is written
        source.stop()
        raise
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = VideoWriter(video_path, source.fps) if render else None
    results, error = [], None
    bar = tqdm(total=source.frame_count or None, disable=not progress, unit="frame", desc=path.name)
    try:
        for frame in source:
            result = pipeline.process(frame)
            results.append(result)
            if writer:
                writer.write(render_result(frame.image, result))
            saver.update(results, source.frame_count)
            bar.update(1)
    except SourceError as e:
        error = str(e)
    except KeyboardInterrupt:
        saver.save_partial(results, source.frame_count)
        raise ProcessError(f"interrupted after {len(results)} frames: the clip so far is kept in {clip_path}, "
                           f"flagged partial; run again with --force to process the whole video.") from None
    finally:
        bar.close()
        source.stop()
        if writer and writer.frames:
            writer.close()
        elif writer:
            writer.abort()
    if not results:
        raise SourceError(error or f"video {path} holds no frames.")
    saver.save(results)
    return ProcessReport(clip_path, video_path if writer and writer.frames else None, len(results),
                         sum(r.person for r in results), sum(bool(r.repaired.any()) for r in results), error)


def clip_meta(path: Path, source: VideoFileSource, pipeline: Pipeline, model_info: dict) -> dict:
    """The clip's metadata: the source's absolute path (MP4 export from another folder still finds
    it), the camera in the source's own pixels, the model, the world grounding's settings."""
    camera = pipeline.camera_for(source.width, source.height).resized(*source.source_size)
    world = {"world": pipeline.world.settings.to_dict()} if pipeline.world else {}
    return {"source": str(path.resolve()), "camera": camera.to_dict(), "model": model_info, **world}


def pixel_scale(source: VideoFileSource) -> tuple[float, float]:
    """From the frames delivered (scaled down to ``max_width``) to the source's own pixels (x, y)."""
    return source.source_size[0] / source.width, source.source_size[1] / source.height
