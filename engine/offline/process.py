"""Offline processing of a video file or an image: every frame through the live pipeline, nothing dropped.

The clip is saved as it grows, flagged ``partial`` in its meta, so that a kill keeps what was done;
the finished run replaces it with the whole clip. Earlier outputs are never overwritten unasked.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ...calibration import CalibrationError
from ...errors import UserError
from ...models.skeletons import H36M
from ...models.world import placement_spikes
from ..live.pipeline import Pipeline, Result, absent, prominence
from ..live.sources import Frame, SourceError, VideoFileSource
from ..outputs.clip import Clip, on_last_floor
from ..outputs.render import compose, draw_overlay, draw_person_id
from ..outputs.video_writer import VideoWriter
from .batch_lift import TwoWayLift

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
REAL_PERSON_MIN_S = 1.0  # seen for less in a whole video, a "person" is a false alarm or a garbled body


class ProcessError(UserError, ValueError):
    """An earlier output is in the way, or the video gave nothing to lift; one sentence for the user."""


class Interrupted(ProcessError):
    """The user stopped the run (Ctrl-C); the sentence says what of the video is kept."""


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


def image_files(folder: Path) -> list[Path]:
    """The images in ``folder``, by name."""
    images = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise SourceError(f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) and no videos: "
                          f"pass a video, an image, or a folder of either.")
    return images


@dataclass
class ProcessReport:
    clip_path: Path
    video_path: Path | None
    frames: int
    frames_with_person: int  # frames with the followed person
    frames_repaired: int = 0  # frames where a left/right label swap was swapped back
    error: str | None = None  # the source's fault, if it broke part-way (what came before is kept)
    person_clips: list[Path] = field(default_factory=list)  # following several people: one clip per person, p0, p1, ...
    fps: float = 0.0  # the video's frame rate
    lens_hfov_deg: float | None = None  # the field of view the video's lens metadata gives, if it names one
    ids_seen: tuple[int, ...] = ()  # everyone's ids, the followed person's or not


def render_result(image, result, height: int = 720):
    """The followed person's 2D and 3D, everyone else's 2D, and everyone's id."""
    for other in result.people:
        if other is not result:
            image = draw_overlay(image, other.keypoints, other.confidence, H36M)
        image = draw_person_id(image, other.keypoints, other.person_id)
    return compose(image, result.keypoints, result.confidence, result.pose3d, result.uncertainty, H36M, height)


def process_video(path: str | Path, out_dir: str | Path, pipeline: Pipeline, model_info: dict,
                  render: bool = True, progress: bool = True, max_width: int | None = None,
                  force: bool = False, save_every: float = 5.0, two_way: bool = True) -> ProcessReport:
    """Every frame of ``path`` through ``pipeline``: ``OUT/NAME_3d.npz`` holds the followed person's
    3D, saved as it grows (``save_every`` seconds, flagged partial); following more than one person, also
    ``OUT/NAME_p0_3d.npz``, ``NAME_p1_3d.npz``, ... one for each person, written at the end. With
    ``two_way`` the video then runs a second time, each person's first frames lifted from their future
    as well (``batch_lift.TwoWayLift``); the first pass's clip is kept until the second is done."""
    path, out_dir = Path(path), Path(out_dir)
    clip_path = out_dir / f"{path.stem}_3d.npz"
    video_path = out_dir / f"{path.stem}_3d.mp4" if render else None
    per_person = pipeline.people > 1
    earlier = sorted(out_dir.glob(f"{path.stem}_p*_3d.npz")) if per_person and out_dir.is_dir() else []
    check_outputs([p for p in (clip_path, video_path, *earlier) if p], force)
    source = VideoFileSource(path, max_width=max_width)
    source.start()  # raises SourceError for a missing or unreadable file before anything is written
    try:
        # The first pass's clips say how they were lifted: from each frame's past only, unless said before.
        saver = ProgressiveClip(clip_path, source.fps, clip_meta(path, source, pipeline, {"two_way": False, **model_info}),
                                pixel_scale(source), save_every)
    except CalibrationError:  # a calibration for another frame shape: said before anything is written
        source.stop()
        raise
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = VideoWriter(video_path, source.fps) if render else None

    def write(frame, result) -> None:
        if writer:
            writer.write(render_result(frame.image, result))

    results, error = [], None
    bar = tqdm(total=source.frame_count or None, disable=not progress, unit="frame", desc=path.name)
    lift_again = TwoWayLift(pipeline) if two_way else None
    try:
        try:
            for frame, result in lifted(source, pipeline):
                results.append(result)
                if not lift_again:
                    write(frame, result)
                saver.update(results, source.frame_count)
                bar.update(1)
        except SourceError as e:
            error = str(e)
        except KeyboardInterrupt:
            saver.save_partial(results, source.frame_count)
            raise Interrupted(f"interrupted after {len(results)} frames: the clip so far is kept in {clip_path}, "
                               f"flagged partial; run again with --force to process the whole video.") from None
        finally:
            bar.close()
            source.stop()
        if not results:
            raise SourceError(error or f"video {path} holds no frames.")
        results = without_misplaced(results)
        if lift_again:
            saver.save(results)  # kept, should the second pass be cut short
            results = without_misplaced(second_pass(lift_again, path, max_width, results, write, progress, clip_path,
                                                    hindsight_follow(pipeline, results)))
            saver.meta["model"] = {**saver.meta["model"], "two_way": True}
    finally:
        if lift_again:
            lift_again.restore()
        if writer and writer.frames:
            writer.close()
        elif writer:
            writer.abort()
    saver.save(results)
    person_paths = []
    if per_person:
        for n, person in enumerate(map(without_misplaced, people_in(results))):
            person_paths.append(Clip.from_results(person, source.fps, {**saver.meta, "person": n}, saver.pixel_scale)
                                .save(out_dir / f"{path.stem}_p{n}_3d.npz"))
    ids = tuple(sorted({p.person_id for r in results for p in r.people}))
    return ProcessReport(clip_path, video_path if writer and writer.frames else None, len(results),
                         sum(r.person for r in results), sum(bool(r.repaired.any()) for r in results), error,
                         person_paths, source.fps, source.lens_hfov_deg, ids)


def second_pass(lift_again: TwoWayLift, path: Path, max_width: int | None, first: list[Result],
                each: Callable[[Frame, Result], None], progress: bool, clip_path: Path,
                follow: int | None) -> list[Result]:
    """``lift_again``'s second pass over the video at ``path`` after the ``first`` pass's results,
    following ``follow`` (None: as the first pass chose), with its own progress bar; an interrupt leaves
    the first pass's clip in ``clip_path``, and says so."""
    bar = tqdm(total=len(first), disable=not progress, unit="frame", desc=f"{path.name}, both ways")

    def step(frame: Frame, result: Result) -> None:
        each(frame, result)
        bar.update(1)

    try:
        return lift_again.second_pass(path, max_width, step, follow)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted in the second pass: {clip_path} holds the clip with each frame lifted from "
                           f"its past only; run again with --force to lift it both ways, or pass --causal.") from None
    finally:
        bar.close()


def real_people(results: list[Result], min_seen_s: float = REAL_PERSON_MIN_S) -> list[int]:
    """The ids of the people seen for ``min_seen_s`` in all, or a quarter of a shorter video (of
    everyone when nobody is), in order of first appearance: with the whole video at hand, a "person"
    seen for less is one of MediaPipe's false alarms or garbled bodies (a small person found late is
    first reported, for a few frames, as a body lying beside them)."""
    seen = Counter(p.person_id for r in results for p in r.people)
    times = np.array([r.timestamp for r in results])
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    least = min(min_seen_s, 0.25 * step * len(times))
    return [pid for pid in seen if seen[pid] * step >= least] or list(seen)


def main_person(results: list[Result]) -> int | None:
    """With the whole video at hand, the person to follow: as live, the most prominent in the first
    frame with anyone, but only of the :func:`real_people` (live, a garbled body found first is whom
    the stream follows; with hindsight it is no one)."""
    real = set(real_people(results))
    for r in results:
        here = [p for p in r.people if p.person_id in real]
        if here:
            return max(here, key=lambda p: prominence(p.mediapipe, p.image_size)).person_id
    return None


def hindsight_follow(pipeline: Pipeline, results: list[Result]) -> int | None:
    """Whom a second pass follows: the :func:`main_person` of the first pass's ``results``, unless the
    user named someone (``--follow``) or the front end finds one person at a time (it follows whoever it
    sees)."""
    if pipeline.first_followed is not None or pipeline.keypoints.num_poses == 1:
        return None
    return main_person(results)


def without_misplaced(results: list[Result]) -> list[Result]:
    """One person's results with the frames a garbled 2D misplaced (``models.world.placement_spikes``, on
    the trajectory as their clip places it) made frames without them: with the whole video at hand,
    what the live stream could not yet know."""
    worlds = [r.world if r.person else None for r in results]
    root = np.array([w.root_mm if w is not None else np.full(3, np.nan) for w in worlds]) * on_last_floor(worlds)[:, None]
    spikes = placement_spikes(root, np.array([r.timestamp for r in results]))
    return [absent(r.index, r.timestamp, r.t_capture, r.t_result, r.image_size, r.timings, r.person_id, r.people)
            if spike else r for r, spike in zip(results, spikes)]


def lifted(source: VideoFileSource, pipeline: Pipeline):
    """Each frame of a started ``source`` with the pipeline's result for it, nothing dropped. A file's
    clip is one person: whom the pipeline chose to follow stays followed (live, one the tracker has
    forgotten is handed on)."""
    pipeline.hand_on_forgotten = False
    for frame in source:
        yield frame, pipeline.process(frame)


def lift_clip(path: str | Path, pipeline: Pipeline, model_info: dict, max_width: int | None = None,
              two_way: bool = True) -> Clip:
    """Every frame of ``path`` through ``pipeline``, as :func:`process_video` runs them (``two_way`` as
    there): the followed person's clip, in memory (nothing is written)."""
    path = Path(path)
    source = VideoFileSource(path, max_width=max_width).start()
    lift_again = TwoWayLift(pipeline) if two_way else None
    try:
        try:
            meta = clip_meta(path, source, pipeline, {**model_info, "two_way": two_way})
            results = [result for _, result in lifted(source, pipeline)]
        finally:
            source.stop()
        if results and lift_again:
            results = lift_again.second_pass(path, max_width, follow=hindsight_follow(pipeline, results))
    finally:
        if lift_again:
            lift_again.restore()
    if not results:
        raise SourceError(f"video {path} holds no frames.")
    results = without_misplaced(results)
    return Clip.from_results(results, source.fps, meta, pixel_scale(source))


def clip_meta(path: Path, source: VideoFileSource, pipeline: Pipeline, model_info: dict) -> dict:
    """The clip's metadata: the source's absolute path (MP4 export from another folder still finds
    it), the camera in the source's own pixels, the model, the world grounding's settings."""
    camera = pipeline.camera_for(source.width, source.height, source.lens_hfov_deg).resized(*source.source_size)
    world = {"world": pipeline.world.to_dict()} if pipeline.world else {}
    return {"source": str(path.resolve()), "camera": camera.to_dict(), "model": model_info, **world}


def pixel_scale(source: VideoFileSource) -> tuple[float, float]:
    """From the frames delivered (scaled down to ``max_width``) to the source's own pixels (x, y)."""
    return source.source_size[0] / source.width, source.source_size[1] / source.height


def people_in(results: list[Result]) -> list[list[Result]]:
    """Each of the :func:`real_people`, in order of first appearance: their result in every frame,
    absent where not seen."""
    return [[next((p for p in r.people if p.person_id == pid), None)
             or absent(r.index, r.timestamp, r.t_capture, r.t_result, r.image_size, person_id=pid) for r in results]
            for pid in real_people(results)]
