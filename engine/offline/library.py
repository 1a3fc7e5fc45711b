"""A folder (or glob) of videos through ``process_video``: resumable, one summary row per video.

A video is done when its marker ``OUT/done/NAME.json`` exists (written atomically after its clip, with
the video's summary row and the settings it was processed with) and the files it names are there. A
killed run loses at most the videos in flight; the next run skips what is done. A video that fails
gets its one-sentence reason in the summary, no marker (so the next run tries it again), and does not
stop the others. Sequential here; on Ray with ``cluster``.
"""
from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import asdict, fields
from pathlib import Path

from tqdm import tqdm

from ...errors import UserError
from ..live.factory import build_pipeline
from .jobs import Job, VideoRow, process_one
from .process import Interrupted

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv"}


class LibraryError(UserError, ValueError):
    """The folder or glob names no videos, or the output folder holds work done otherwise."""


def find_videos(spec: str | Path) -> list[Path]:
    """A folder's video files (not its subfolders), or the files a glob matches (``**`` descends)."""
    text = str(spec)
    if Path(text).is_dir():
        found = [p for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        if not found:
            raise LibraryError(f"folder {text} holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))}): "
                               f"point to the folder the videos are in.")
    else:
        found = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        if not found:
            raise LibraryError(f"{text} matches no files: check the pattern (quote it so the shell leaves it alone).")
    videos = sorted(p.absolute() for p in found)
    stems: dict[str, Path] = {}
    for v in videos:
        if v.stem in stems:
            raise LibraryError(f"{stems[v.stem]} and {v} would both write {v.stem}_3d.npz: process them into "
                               f"separate output folders.")
        stems[v.stem] = v
    return videos


def looks_like_library(spec: str | Path) -> bool:
    """A glob pattern, or a folder with video files in it (not a single video file)."""
    path = Path(spec)
    if path.is_dir():
        return any(p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() for p in path.iterdir())
    return glob.has_magic(str(spec))


def settings_of(job: Job, model_info: dict) -> dict:
    """What decides a video's output: a video done with other settings is not done with these. The
    backend is left out (the backends lift alike)."""
    opts = job.opts
    return json.loads(json.dumps({
        "model": {k: v for k, v in model_info.items() if k != "backend"}, "render": job.render,
        "max_width": job.max_width, "camera": str(opts.camera) if opts.camera else None, "hfov_deg": opts.hfov_deg,
        "smoothing": opts.smoothing}))


class Library:
    """The output folder's record of what is done."""

    def __init__(self, out: Path, settings: dict):
        self.out = Path(out)
        self.settings = settings
        self.done_dir = self.out / "done"

    def marker(self, video: Path) -> Path:
        return self.done_dir / f"{video.stem}.json"

    def _marker_record(self, video: Path) -> dict | None:
        try:
            record = json.loads(self.marker(video).read_text())
            record["row"] = VideoRow(**record["row"])
            return record
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no marker, or one cut short: the video is redone

    def plan(self, videos: list[Path], force: bool) -> tuple[list[Path], dict[Path, VideoRow]]:
        """The videos to do, and the rows of those done before with these settings (their files still
        there). Work done with other settings is refused unless ``force`` (it would be overwritten)."""
        if force:
            return videos, {}
        records = {v: r for v in videos if (r := self._marker_record(v)) is not None}
        for video, record in records.items():
            if record["row"].video != str(video):
                raise LibraryError(f"{self.out} holds the clip of another video called {video.stem} "
                                   f"({record['row'].video}): choose another output folder for {video}.")
        other = [v for v, r in records.items() if r.get("settings") != self.settings]
        if other:
            raise LibraryError(f"{self.out} holds {len(other)} of these videos processed with other settings "
                               f"(e.g. {other[0].name}): pass --force to redo them with these, or choose "
                               f"another output folder.")
        done = {}
        for video, record in records.items():
            row = record["row"]
            if all((self.out / Path(f).name).is_file() for f in (row.clip, row.rendered) if f):
                row.status = "done before"
                done[video] = row
        return [v for v in videos if v not in done], done

    def mark_done(self, video: Path, row: VideoRow) -> None:
        self.done_dir.mkdir(parents=True, exist_ok=True)
        path = self.marker(video)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"settings": self.settings, "row": asdict(row)}, indent=1))
        os.replace(tmp, path)

    def record(self, video: Path, row: VideoRow) -> None:
        if row.status == "processed":
            self.mark_done(video, row)
        else:
            self.marker(video).unlink(missing_ok=True)  # a failure is tried again next time

    def write_summary(self, rows: list[VideoRow]) -> tuple[Path, Path]:
        self.out.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = self.out / "summary.csv", self.out / "summary.json"
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, [x.name for x in fields(VideoRow)])
            writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
        json_path.write_text(json.dumps({"settings": self.settings, "totals": totals(rows),
                                         "videos": [asdict(r) for r in rows]}, indent=1))
        return csv_path, json_path


def totals(rows: list[VideoRow]) -> dict:
    return {"videos": len(rows), "processed": sum(r.status == "processed" for r in rows),
            "done_before": sum(r.status == "done before" for r in rows),
            "failed": sum(r.status == "failed" for r in rows), "frames": sum(r.frames for r in rows)}


def process_library(spec: str | Path, job: Job, workers: int = 1, address: str | None = None, force: bool = False,
                    progress: bool = True) -> tuple[list[VideoRow], Library]:
    """Every video that ``spec`` names, except those done before; sequential with ``workers`` 1 and no
    cluster, else on Ray. Returns the rows in the videos' order and the library (summary written)."""
    if workers < 1:
        raise LibraryError(f"--workers {workers} is not a number of workers: give 1 or more.")
    videos = find_videos(spec)
    address = address or os.environ.get("RAY_ADDRESS")
    on_ray = bool(workers > 1 or address)
    if on_ray:
        from .cluster import require_ray

        require_ray(address)
    # Bad weights, refiner or camera are refused before any video starts (MediaPipe is not needed here).
    _, info = build_pipeline(job.opts, keypoints=_NoKeypoints())
    library = Library(job.out, settings_of(job, info))
    todo, rows = library.plan(videos, force)
    bar = tqdm(total=len(videos), initial=len(rows), unit="video", desc="videos", disable=not progress)
    # Sequential, each video shows its own frames; on Ray the frames of the videos finished add up.
    frames = tqdm(unit="frame", desc="frames", disable=not (progress and on_ray))

    def finished(video: Path, row: VideoRow) -> None:
        library.record(video, row)
        rows[video] = row
        bar.update(1)
        frames.update(row.frames)
        if row.reason:
            bar.write(f"{video.name}: {row.reason}")

    try:
        if on_ray and todo:
            from .cluster import process_on_ray

            process_on_ray(todo, job, finished, workers, address)
        else:
            for video in todo:
                finished(video, process_one(video, job, progress))
    except (KeyboardInterrupt, Interrupted):
        done = sum(row.status != "failed" for row in rows.values())
        raise LibraryError(f"interrupted with {done} of the {len(videos)} videos done, and kept: run the same command "
                           f"again to go on (it skips what is done).") from None
    finally:
        bar.close()
        frames.close()
        ordered = [rows[v] for v in videos if v in rows]
        library.write_summary(ordered)
    return ordered, library


class _NoKeypoints:
    """The front end of a pipeline built only to check the settings: it runs no frames."""
    num_poses, smooths_landmarks = 1, False

    def __call__(self, image, timestamp=None):
        raise AssertionError("the pipeline built to check the settings runs no frames.")


def format_summary(rows: list[VideoRow]) -> str:
    lines = ["| video | status | frames | with a person | people | fps (video) | fps (processing) | reason |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {Path(r.video).name} | {r.status} | {r.frames} | {r.frames_with_person} | {r.people} | "
                     f"{r.video_fps:g} | {r.processing_fps:.1f} | {r.reason} |")
    t = totals(rows)
    lines.append(f"\n{t['videos']} video{'s' * (t['videos'] != 1)}: {t['processed']} processed, {t['done_before']} done before, "
                 f"{t['failed']} failed; {t['frames']} frames.")
    return "\n".join(lines)
