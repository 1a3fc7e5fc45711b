"""Offline processing of a video file or an image: every frame through the live pipeline, nothing dropped."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..models.skeletons import H36M
from .clip import Clip
from .pipeline import Pipeline, Result, absent
from .render import compose, draw_overlay
from .sources import SourceError, VideoFileSource
from .video_writer import VideoWriter


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_files(folder: Path) -> list[Path]:
    """The images in ``folder``, by name."""
    images = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise SourceError(f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
                          f"pass a video, an image, or a folder of images.")
    return images


@dataclass
class ProcessReport:
    clip_path: Path
    video_path: Path | None
    frames: int
    frames_with_person: int
    frames_repaired: int = 0  # frames where a left/right label swap was swapped back
    error: str | None = None  # the source's fault, if it broke part-way (what came before is kept)
    person_clips: list[Path] = field(default_factory=list)  # with per_person: one clip per person, p0, p1, ...


def render_result(image, result, height: int = 720):
    """The followed person's 2D and 3D, everyone else's 2D."""
    for other in result.people:
        if other is not result:
            image = draw_overlay(image, other.keypoints, other.confidence, H36M)
    return compose(image, result.keypoints, result.confidence, result.pose3d, result.uncertainty, H36M, height)


def process_video(path: str | Path, out_dir: str | Path, pipeline: Pipeline, model_info: dict,
                  render: bool = True, progress: bool = True, max_width: int | None = None,
                  per_person: bool = False) -> ProcessReport:
    """Every frame of ``path`` through ``pipeline``: ``OUT/NAME_3d.npz`` holds the followed person's
    3D; with ``per_person``, ``OUT/NAME_p0_3d.npz``, ``NAME_p1_3d.npz``, ... one for each person."""
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
    meta = {"source": str(path), "camera": camera.to_dict(), "model": model_info}
    person_paths = []
    if per_person:
        for n, person in enumerate(people_in(results)):
            person_paths.append(Clip.from_results(person, source.fps, {**meta, "person": n})
                                .save(out_dir / f"{path.stem}_p{n}_3d.npz"))
    else:
        Clip.from_results(results, source.fps, meta).save(clip_path)
    rendered = video_path if writer and writer.frames else None
    return ProcessReport(person_paths[0] if person_paths else clip_path, rendered, len(results),
                         sum(bool(r.people) for r in results), sum(bool(r.repaired.any()) for r in results), error,
                         person_paths)


def people_in(results: list[Result], min_share: float = 0.05) -> list[list[Result]]:
    """Each person tracked in at least ``min_share`` of the frames (fewer are the detector's false
    alarms), in order of first appearance: their result in every frame, absent where not seen."""
    seen = Counter(p.person_id for r in results for p in r.people)
    order = [pid for pid in dict.fromkeys(p.person_id for r in results for p in r.people)
             if seen[pid] >= max(1.0, min_share * len(results))]
    return [[next((p for p in r.people if p.person_id == pid), None)
             or absent(r.index, r.timestamp, r.t_capture, r.t_result, r.image_size, person_id=pid) for r in results]
            for pid in order]
