"""One video of a run: what it is processed with (:class:`Job`), how (:func:`process_one`), and its
summary row (:class:`VideoRow`), shared by the sequential run and the Ray one."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import UserError
from ..live.factory import PipelineOptions, build_pipeline
from .process import Interrupted, ProcessReport, process_video


@dataclass
class VideoRow:
    """One video's line in the summary."""
    video: str
    status: str  # "processed", "done before" (skipped) or "failed"
    frames: int = 0
    frames_with_person: int = 0
    people: int = 0  # with --people N, the clips of people written; else 1 when anyone was seen
    frames_repaired: int = 0
    video_fps: float = 0.0
    seconds: float = 0.0  # wall time spent on the video
    processing_fps: float = 0.0
    clip: str = ""
    rendered: str = ""
    reason: str = ""  # why it failed (a fault part-way keeps the frames before), or that nobody was seen

    @classmethod
    def from_report(cls, video: Path, report: ProcessReport, seconds: float) -> "VideoRow":
        nobody = "" if report.frames_with_person else f"nobody was found in any of its {report.frames} frames."
        people = len(report.person_clips) if report.person_clips else int(report.frames_with_person > 0)
        return cls(str(video), "failed" if report.error else "processed", report.frames, report.frames_with_person,
                   people, report.frames_repaired, round(report.fps, 3), round(seconds, 2),
                   round(report.frames / max(seconds, 1e-9), 2), str(report.clip_path),
                   str(report.video_path or ""), report.error or nobody)

    @classmethod
    def failed(cls, video: Path, reason: str) -> "VideoRow":
        return cls(str(video), "failed", reason=reason)


@dataclass
class Job:
    """What every video of a run is processed with (a plain dataclass: it travels to Ray workers)."""
    out: Path
    opts: PipelineOptions
    render: bool = True
    max_width: int | None = None


def process_one(video: Path, job: Job, progress: bool = False) -> VideoRow:
    """One video with its own fresh pipeline (MediaPipe's tracking and the streams start clean)."""
    def work() -> ProcessReport:
        pipeline, info = build_pipeline(job.opts)
        # A video without its done marker is redone whole: what an interrupted run left of it goes.
        return process_video(video, job.out, pipeline, info, render=job.render, progress=progress,
                             max_width=job.max_width, force=True, two_way=not job.opts.causal)
    return timed_row(video, work)


def timed_row(video: Path, work: Callable[[], ProcessReport], seconds_before: float = 0.0) -> VideoRow:
    """The row of ``work`` on ``video``, timed. Any failure becomes the row's reason: one video never
    stops the others; the user's Ctrl-C stops them all."""
    t0 = time.perf_counter()
    try:
        report = work()
    except Interrupted:
        raise
    except Exception as e:  # noqa: BLE001 - any fault of one video is that video's failure
        return VideoRow.failed(video, failure_reason(e))
    return VideoRow.from_report(video, report, seconds_before + time.perf_counter() - t0)


def failure_reason(e: BaseException) -> str:
    """The sentence a user error carries; other faults with their kind."""
    return str(e) if isinstance(e, UserError) else f"{e.__class__.__name__}: {e}"
