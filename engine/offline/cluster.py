"""Videos on Ray (the optional extra ``poselift[cluster]``): a local cluster of ``workers`` CPUs, or
the cluster at ``--address`` / ``$RAY_ADDRESS``.

Every video is a Ray task on one CPU; Ray schedules the tasks and runs one again when its worker
dies. Without a GPU each task processes its video whole, lifting included. With one, the tasks stop
after MediaPipe and leave each video's 2D streams in Ray's object store; a GPU actor lifts the streams
of every video ready at that moment together, many streams per step (:class:`BatchLifter`), and
CPU tasks finish each video from there (refiner, rendering, the clip). On a cluster, the videos, the
output folder and the weights must be at the same paths on every node (a shared mount), and poselift
installed on each.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable


from ...errors import UserError
from ...models.checkpoint import load_weights
from ..live.factory import PipelineOptions, build_pipeline
from ..live.sources import SourceError, VideoFileSource
from .batch_lift import (BatchLifter, Lifted, RecordingKeypoints, RecordingLifter, ReplayedKeypoints, ReplayedLifter,
                         Track2D, recorded_track)
from .jobs import Job, VideoRow, failure_reason, process_one, timed_row
from .process import ProcessReport, hindsight_follow, lifted, process_video


class ClusterUnavailable(UserError, RuntimeError):
    """Ray is not installed, or no cluster answers at the address given."""


RETRIES = 2  # Ray runs a task again this often when its worker process dies


def require_ray(address: str | None = None):
    """Ray, and the cluster at ``address`` answering; else one sentence saying what to do."""
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("processing on several workers runs on Ray, which is not installed: "
                                 "pip install 'poselift[cluster]', or leave --workers at 1.") from None
    if not hasattr(ray, "init"):  # a folder named ray on the path imports as an empty namespace package
        raise ClusterUnavailable(f"'ray' here is the folder {', '.join(getattr(ray, '__path__', []))}, not Ray: run "
                                 f"from another folder, or pip install 'poselift[cluster]'.")
    if address:
        _check_reachable(address)
    return ray


def process_on_ray(videos: list[Path], job: Job, finished: Callable[[Path, VideoRow], None], workers: int = 2,
                   address: str | None = None, batched: bool | None = None) -> None:
    """Process ``videos``, calling ``finished`` with each one's row as it completes. ``batched``: lift
    on one batching actor (default: when the cluster has a GPU, where the actor then runs)."""
    address = address or os.environ.get("RAY_ADDRESS")
    ray = require_ray(address)
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
    try:
        gpu = ray.cluster_resources().get("GPU", 0) >= 1
        if batched if batched is not None else gpu:
            _lift_batched(ray, videos, job, finished, "cuda" if gpu else "cpu")
        else:
            _each_lifts_its_own(ray, videos, job, finished)
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Ray waits for an unreachable head node without end: say so at once instead."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return  # "auto" and the like: Ray finds the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise ClusterUnavailable(f"no Ray cluster answers at {address} ({e.strerror or e}): start one there with "
                                 f"`ray start --head`, or leave --address and RAY_ADDRESS unset to run here.") from None


def _each_lifts_its_own(ray, videos: list[Path], job: Job, finished) -> None:
    task = ray.remote(num_cpus=1, max_retries=RETRIES)(process_one)
    pending = {task.remote(video, job): video for video in videos}
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        video = pending.pop(ref)
        finished(video, _row(ray, ref, video))


def _row(ray, ref, video: Path) -> VideoRow:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        return VideoRow.failed(video, _ray_failure(e))


def _ray_failure(e: Exception) -> str:
    """The worker died more often than Ray retries, or the data it needed was lost."""
    return f"Ray could not run it ({e.__class__.__name__}, after {RETRIES} retries)."


def track_2d(video: str | Path, opts: PipelineOptions, max_width: int | None = None) -> Track2D:
    """The first pass over a video: MediaPipe and the pipeline up to the lifter. A fault part-way ends
    it quietly: the second pass meets the same fault at the same frame and reports it."""
    # Only the lifter's input is recorded here: the stages after the lift run in the second pass.
    pipeline, _ = build_pipeline(replace(opts, refine=False, smoothing=None, fusion=False))
    pipeline.keypoints = recorder = RecordingKeypoints(pipeline.keypoints)
    pipeline.lifter = lifter = RecordingLifter(pipeline.lifter.spec)
    source = VideoFileSource(video, max_width=max_width)
    source.start()  # a missing or unreadable video raises here
    results = []
    try:
        for _, result in lifted(source, pipeline):
            results.append(result)
    except SourceError:
        pass
    finally:
        source.stop()
    # with --causal, one pass: followed as that pass chose
    return replace(recorded_track(recorder, lifter), followed=None if opts.causal else hindsight_follow(pipeline, results))


def finish_video(video: str | Path, out_dir: str | Path, opts: PipelineOptions, track: Track2D, lifted: Lifted,
                 render: bool = True, max_width: int | None = None) -> ProcessReport:
    """The second pass: ``process_video`` with the recorded 2D and the batched lifter's poses (lifted both
    ways already, unless ``opts.causal``)."""
    pipeline, info = build_pipeline(opts, keypoints=ReplayedKeypoints(track))
    pipeline.lifter = ReplayedLifter(pipeline.lifter.spec, track, lifted)
    if track.followed is not None:
        pipeline.follow(track.followed)
    return process_video(video, out_dir, pipeline, {**info, "backend": "batched", "two_way": not opts.causal},
                         render=render, progress=False, max_width=max_width, force=True,  # not done before: redone whole
                         two_way=False)


class _LiftingActor(BatchLifter):
    def __init__(self, weights: Path, device: str, flip: bool, two_way: bool):
        super().__init__(load_weights(weights), device, flip, max_streams=4096 if device == "cuda" else 256,
                         two_way=two_way)

    def lift_each(self, *tracks: Track2D) -> Lifted | tuple[Lifted, ...]:
        """One result per video, as separate objects (a single one is not a tuple)."""
        lifted = self.lift(list(tracks))
        return lifted[0] if len(lifted) == 1 else tuple(lifted)


def _first_pass(video: Path, job: Job) -> tuple[tuple[str, float], Track2D | None]:
    t0 = time.perf_counter()
    try:
        track = track_2d(video, job.opts, job.max_width)
    except Exception as e:  # noqa: BLE001 - the video's failure, reported in its row
        return (failure_reason(e), 0.0), None
    return ("", time.perf_counter() - t0), track


def _second_pass(video: Path, job: Job, track: Track2D, lifted: Lifted, seconds: float) -> VideoRow:
    return timed_row(video, lambda: finish_video(video, job.out, job.opts, track, lifted, job.render,
                                                 job.max_width), seconds)


def _lift_batched(ray, videos: list[Path], job: Job, finished, device: str) -> None:
    first = ray.remote(num_cpus=1, max_retries=RETRIES, num_returns=2)(_first_pass)
    second = ray.remote(num_cpus=1, max_retries=RETRIES)(_second_pass)
    actor = ray.remote(num_cpus=0, num_gpus=1 if device == "cuda" else 0, max_restarts=RETRIES,
                       max_task_retries=RETRIES)(_LiftingActor)
    lifter = actor.remote(job.opts.weights, device, job.opts.flip, not job.opts.causal)
    # At most two first passes per CPU in flight, so that videos finish as they go (Ray's pattern for
    # limiting pending tasks) rather than all waiting for their second pass at the end.
    todo, limit = list(reversed(videos)), max(2, int(2 * ray.cluster_resources().get("CPU", 1)))
    pending: dict = {}  # what the driver waits for -> (kind, video, its 2D)
    ready, lifting, first_passes = [], None, 0
    while todo or pending:
        while todo and first_passes < limit:
            video = todo.pop()
            status, track = first.remote(video, job)
            pending[status] = ("2d", video, track)
            first_passes += 1
        [ref], _ = ray.wait(list(pending), num_returns=1)
        kind, video, track = pending.pop(ref)
        if kind == "2d":
            first_passes -= 1
            try:
                error, seconds = ray.get(ref)
            except ray.exceptions.RayError as e:
                error = _ray_failure(e)
            if error:
                finished(video, VideoRow.failed(video, error))
            else:
                ready.append((video, track, seconds))
        elif kind == "lift":
            lifting = None
        else:
            finished(video, _row(ray, ref, video))
        if ready and lifting is None:  # everything ready while the actor was busy goes in one batch
            out = lifter.lift_each.options(num_returns=len(ready)).remote(*[t for _, t, _ in ready])
            out = [out] if len(ready) == 1 else out
            for (v, t, seconds), lifted in zip(ready, out):
                pending[second.remote(v, job, t, lifted, seconds)] = ("row", v, None)
            lifting = out[0]
            pending[lifting] = ("lift", None, None)
            ready = []
