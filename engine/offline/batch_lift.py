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
from typing import Hashable

import numpy as np
import torch

from ...models.lifter import IN_FEATURES, LifterSpec, average_with_mirror, expected_error, with_mirror
from ..live.factory import PipelineOptions, build_pipeline
from ..live.keypoints import Keypoints
from ..live.sources import SourceError, VideoFileSource
from .process import ProcessReport, process_video


@dataclass
class Track2D:
    """A video's first pass: MediaPipe's output per frame (everyone it found), and the lifter's input
    per stream (a stream runs from a person appearing to their track ending; a video over 60 fps has
    several interleaved streams per person)."""
    keypoints: list[list[Keypoints]]
    streams: list[np.ndarray]  # (frames, J or J + 1, 3) network input each
    num_poses: int = 1  # how many people the front end looked for (the pipeline follows by it)
    smooths_landmarks: bool = False  # whether the front end smoothed its landmarks (then the pipeline did not)


@dataclass
class Lifted:
    """The lifter's output for one video's streams: pose (frames, J, 3) and uncertainty (frames, J), mm."""
    poses: list[np.ndarray]
    uncertainties: list[np.ndarray]


class _RecordingKeypoints:
    def __init__(self, detector):
        self.detector = detector
        self.num_poses, self.smooths_landmarks = detector.num_poses, detector.smooths_landmarks
        self.frames: list[list[Keypoints]] = []

    def __call__(self, image: np.ndarray, timestamp: float | None = None) -> list[Keypoints]:
        self.frames.append(self.detector(image, timestamp))
        return self.frames[-1]

    def reset(self) -> None:
        self.detector.reset()

    def close(self) -> None:
        self.detector.close()


class _ReplayedKeypoints:
    def __init__(self, track: Track2D):
        self.num_poses, self.smooths_landmarks = track.num_poses, track.smooths_landmarks
        self._frames = iter(track.keypoints)

    def __call__(self, image: np.ndarray, timestamp: float | None = None) -> list[Keypoints]:
        return next(self._frames)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class _StandInLifter:
    """Takes the lifter backend's place: each person's stream (keyed as the pipeline steps them: track
    id and phase) gets the next stream number when it starts, and ends on ``release`` or ``reset``."""

    def __init__(self, spec: LifterSpec):
        self.spec = spec
        self.started = 0  # streams so far
        self._open: dict[Hashable, tuple[int, int]] = {}  # key -> (stream number, frames in it so far)

    def reset(self) -> None:
        self._open.clear()

    def release(self, key: Hashable) -> None:
        self._open.pop(key, None)

    def step_streams(self, inputs: dict[Hashable, np.ndarray]) -> dict[Hashable, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for key, x in inputs.items():
            if key not in self._open:
                self._open[key] = (self.started, 0)
                self.started += 1
            stream, frame = self._open[key]
            self._open[key] = (stream, frame + 1)
            out[key] = self._frame(stream, frame, np.asarray(x, np.float32))
        return out

    def _frame(self, stream: int, frame: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class _RecordingLifter(_StandInLifter):
    """The first pass's: keeps the inputs, lifts nothing."""

    def __init__(self, spec: LifterSpec):
        super().__init__(spec)
        self.streams: list[list[np.ndarray]] = []

    def _frame(self, stream: int, frame: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if stream == len(self.streams):
            self.streams.append([])
        self.streams[stream].append(x)
        nan = np.full((self.spec.num_joints, 3), np.nan)
        return nan, nan[:, 0]


class _ReplayedLifter(_StandInLifter):
    """The second pass's: hands out the batched results, checking that the pipeline asks for the
    very frames the first pass recorded."""

    def __init__(self, spec: LifterSpec, track: Track2D, lifted: Lifted):
        super().__init__(spec)
        self._track, self._lifted = track, lifted

    def _frame(self, stream: int, frame: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not np.allclose(self._track.streams[stream][frame], x, atol=1e-5):
            raise RuntimeError(f"stream {stream} frame {frame}: the replay's lifter input differs from the first "
                               f"pass's.")
        return self._lifted.poses[stream][frame], self._lifted.uncertainties[stream][frame]


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
    # Only the lifter's input is recorded here: the stages after the lift run in the second pass.
    pipeline, _ = build_pipeline(replace(opts, refine=False, smoothing=None, fusion=False))
    pipeline.keypoints = recorder = _RecordingKeypoints(pipeline.keypoints)
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
    return Track2D(recorder.frames, [np.stack(s) for s in lifter.streams], recorder.num_poses, recorder.smooths_landmarks)


def finish_video(video: str | Path, out_dir: str | Path, opts: PipelineOptions, track: Track2D, lifted: Lifted,
                 render: bool = True, max_width: int | None = None) -> ProcessReport:
    """The second pass: ``process_video`` with the recorded 2D and the batched lifter's poses."""
    pipeline, info = build_pipeline(opts, keypoints=_ReplayedKeypoints(track))
    pipeline.lifter = _ReplayedLifter(pipeline.lifter.spec, track, lifted)
    return process_video(video, out_dir, pipeline, {**info, "backend": "batched"}, render=render, progress=False,
                         max_width=max_width, force=True)  # not done before (no marker): redone whole
