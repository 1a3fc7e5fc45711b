"""Lifting many streams in one step, where a device is fast: one live step is no quicker on a GPU than
on a CPU, but a thousand streams stepped together are.

A video is processed in two passes around the batched lifting. The first runs the live pipeline up to
the lifter (MediaPipe, mapping, swap repair, normalisation) and records each frame's MediaPipe output
and each stream's lifter inputs (:func:`track_2d`); :class:`BatchLifter` lifts the streams of many
videos together with the same causal streaming step as live; the second pass replays the recorded
MediaPipe output and the lifted poses through the unchanged pipeline and ``process_video`` (refiner,
smoothing, rendering, the clip), so both routes write the same files.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..models.lifter import IN_FEATURES, LifterSpec, average_with_mirror, expected_error, with_mirror
from .factory import PipelineOptions, build_pipeline
from .keypoints import Keypoints, MediaPipePose
from .process import ProcessReport, process_video
from .sources import SourceError, VideoFileSource


@dataclass
class Track2D:
    """A video's first pass: MediaPipe's output per frame, and the lifter's input per stream (a stream
    runs from the person appearing to the person leaving: the pipeline resets the lifter between)."""
    keypoints: list[Keypoints]
    streams: list[np.ndarray]  # (frames, J or J + 1, 3) network input each


@dataclass
class Lifted:
    """The lifter's output for one video's streams: pose (frames, J, 3) and uncertainty (frames, J), mm."""
    poses: list[np.ndarray]
    uncertainties: list[np.ndarray]


class _RecordingKeypoints:
    def __init__(self, detector: MediaPipePose):
        self.detector = detector
        self.frames: list[Keypoints] = []

    def __call__(self, image: np.ndarray) -> Keypoints:
        self.frames.append(self.detector(image))
        return self.frames[-1]


class _ReplayedKeypoints:
    def __init__(self, frames: list[Keypoints]):
        self._frames = iter(frames)

    def __call__(self, image: np.ndarray) -> Keypoints:
        return next(self._frames)


class _RecordingLifter:
    """Stands in for the lifter backend in the first pass: keeps the inputs, lifts nothing."""

    def __init__(self, spec: LifterSpec):
        self.spec = spec
        self.streams: list[list[np.ndarray]] = []
        self._open = False

    def reset(self) -> None:
        self._open = False

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._open:
            self.streams.append([])
            self._open = True
        self.streams[-1].append(np.asarray(x, np.float32))
        nan = np.full((self.spec.num_joints, 3), np.nan)
        return nan, nan[:, 0]


class _ReplayedLifter:
    """Stands in for the lifter backend in the second pass: hands out the batched results in order,
    checking that the pipeline asks for the very frames the first pass recorded."""

    def __init__(self, spec: LifterSpec, track: Track2D, lifted: Lifted):
        self.spec = spec
        self._track, self._lifted = track, lifted
        self._stream, self._frame, self._open = -1, 0, False

    def reset(self) -> None:
        self._open = False

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._open:
            self._stream, self._frame, self._open = self._stream + 1, 0, True
        s, i = self._stream, self._frame
        if not np.allclose(self._track.streams[s][i], x, atol=1e-5):
            raise RuntimeError(f"stream {s} frame {i}: the replay's lifter input differs from the first pass's.")
        self._frame += 1
        return self._lifted.poses[s][i], self._lifted.uncertainties[s][i]


class BatchLifter:
    """Lifts whole streams of lifter input, ``max_streams`` at a time in one step each frame, with the
    live causal step (the architecture's step module): every frame sees only itself and its past, as live."""

    FLUSH = 256  # steps whose outputs wait on the device before they are copied back

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True, max_streams: int = 4096):
        self.device = torch.device(device)
        self.flip = flip
        self.max_streams = max_streams
        self.module = model.cpu().eval().step_module().to(self.device)

    @torch.no_grad()
    def lift(self, tracks: list[Track2D]) -> list[Lifted]:
        streams = [torch.as_tensor(s) for t in tracks for s in t.streams]
        inputs = [v for s in streams for v in (with_mirror(s) if self.flip else s[None])]
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
        out: list = [None] * len(inputs)
        for start in range(0, len(order), self.max_streams):
            chunk = order[start:start + self.max_streams]
            for i, result in zip(chunk, self._run([inputs[i] for i in chunk])):
                out[i] = result
        k = 2 if self.flip else 1
        lifted, n = [], 0
        for track in tracks:
            poses, sigmas = [], []
            for _ in track.streams:
                pose = torch.stack([out[n + m][0] for m in range(k)])
                log_scale = torch.stack([out[n + m][1] for m in range(k)])
                pose, log_scale = average_with_mirror(pose, log_scale) if self.flip else (pose[0], log_scale[0])
                poses.append(pose.numpy())
                sigmas.append(expected_error(log_scale).numpy())
                n += k
            lifted.append(Lifted(poses, sigmas))
        return lifted

    def _run(self, inputs: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Streams sorted longest first, each (frames, rows, 3): stepped together, the finished ones
        dropping off the end of the batch. Inputs and outputs stay on the CPU (a long video times
        thousands of streams would not fit a GPU); each step's slice goes over, the outputs come back
        every ``FLUSH`` steps."""
        lengths = [len(x) for x in inputs]
        spec = self.module.spec
        frames = torch.zeros(lengths[0], len(inputs), (spec.num_joints + spec.root_features) * IN_FEATURES)
        for j, x in enumerate(inputs):
            frames[: len(x), j] = x.flatten(1)
        j = self.module.spec.num_joints
        poses = torch.full((lengths[0], len(inputs), j, 3), torch.nan)
        scales = torch.full((lengths[0], len(inputs), j), torch.nan)
        state = self.module.prime(frames[0].to(self.device))
        active, block = len(inputs), []
        for t in range(lengths[0]):
            while lengths[active - 1] <= t:
                active -= 1
            state = [s[:active] for s in state]
            pose, log_scale, *state = self.module(frames[t, :active].to(self.device, non_blocking=True), *state)
            block.append((t, pose, log_scale))
            if len(block) == self.FLUSH or t == lengths[0] - 1:
                for i, p, ls in block:
                    poses[i, : len(p)], scales[i, : len(p)] = p.cpu(), ls.cpu()
                block = []
        return [(poses[:n, i], scales[:n, i]) for i, n in enumerate(lengths)]


def track_2d(video: str | Path, opts: PipelineOptions, max_width: int | None = None) -> Track2D:
    """The first pass over a video: MediaPipe and the pipeline up to the lifter. A fault part-way ends
    it quietly: the second pass meets the same fault at the same frame and reports it."""
    recorder = _RecordingKeypoints(MediaPipePose())
    pipeline, _ = build_pipeline(replace(opts, refine=False, smoothing=None), keypoints=recorder)
    pipeline.lifter = lifter = _RecordingLifter(pipeline.lifter.spec)
    source = VideoFileSource(video, max_width=max_width)
    source.start()  # a missing or unreadable video raises here
    try:
        for frame in source:
            pipeline.process(frame)
    except SourceError:
        pass
    finally:
        source.stop()
    return Track2D(recorder.frames, [np.stack(s) for s in lifter.streams])


def finish_video(video: str | Path, out_dir: str | Path, opts: PipelineOptions, track: Track2D, lifted: Lifted,
                 render: bool = True, max_width: int | None = None) -> ProcessReport:
    """The second pass: ``process_video`` with the recorded 2D and the batched lifter's poses."""
    pipeline, info = build_pipeline(opts, keypoints=_ReplayedKeypoints(track.keypoints))
    pipeline.lifter = _ReplayedLifter(pipeline.lifter.spec, track, lifted)
    return process_video(video, out_dir, pipeline, {**info, "backend": "batched"}, render=render, progress=False,
                         max_width=max_width, force=True)  # not done before (no marker): redone whole
