"""Offline processing of a video file: every frame through the live pipeline, nothing dropped."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..models.skeletons import H36M
from .clip import Clip
from .pipeline import Pipeline
from .render import compose
from .sources import SourceError, VideoFileSource
from .video_writer import VideoWriter


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
                  render: bool = True, progress: bool = True, max_width: int | None = None) -> ProcessReport:
    path, out_dir = Path(path), Path(out_dir)
    source = VideoFileSource(path, max_width=max_width)
    source.start()  # raises SourceError for a missing or unreadable file before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    clip_path = out_dir / f"{path.stem}_3d.npz"
    video_path = out_dir / f"{path.stem}_3d.mp4" if render else None
    writer = VideoWriter(video_path, source.fps) if render else None
    results, error = [], None
    bar = tqdm(total=source.frame_count or None, disable=not progress, unit="frame", desc=path.name)
    try:
        for frame in source:
            result = pipeline.process(frame)
            results.append(result)
            if writer:
                writer.write(render_result(frame.image, result))
            bar.update(1)
    except SourceError as e:
        error = str(e)
    finally:
        bar.close()
        source.stop()
        if writer and writer.frames:
            writer.close()
        elif writer:
            writer.abort()
    if not results:
        raise SourceError(error or f"video {path} holds no frames.")
    camera = pipeline.camera_for(*results[0].image_size)
    world = {"world": pipeline.world.settings.to_dict()} if pipeline.world else {}
    Clip.from_results(results, source.fps, {"source": str(path), "camera": camera.to_dict(),
                                            "model": model_info, **world}).save(clip_path)
    return ProcessReport(clip_path, video_path if writer and writer.frames else None, len(results),
                         sum(r.person for r in results), sum(bool(r.repaired.any()) for r in results), error)
