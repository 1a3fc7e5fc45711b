"""Lifting whole recorded streams: many in one step, where a device is fast (one live step is no
quicker on a GPU than on a CPU, but a thousand streams stepped together are), and each both ways in
time, when the whole video is at hand.

A video is then processed in two passes around the lifting. The first runs the live pipeline and records
each frame's MediaPipe output and each stream's lifter inputs (:class:`RecordingKeypoints`,
:class:`RecordingLifter`); :class:`BatchLifter` lifts the recorded streams with the same causal step as
live, and with ``two_way`` also each stream reversed in time, for its first frames; the second pass replays the recorded
MediaPipe output and the lifted poses through the unchanged pipeline (:class:`ReplayedKeypoints`,
:class:`ReplayedLifter`). :class:`TwoWayLift` does this for one video in one process
(``engine/offline/process.py``); the Ray route runs the passes as separate tasks (``cluster``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable

import numpy as np
import torch

from ...models.lifter import IN_FEATURES, LifterSpec, average_with_mirror, expected_error, with_mirror
from ..live.keypoints import Keypoints
from ..live.pipeline import Pipeline, Result
from ..live.sources import Frame, SourceError, VideoFileSource


@dataclass
class Track2D:
    """A video's first pass: MediaPipe's output per frame (everyone it found), and the lifter's input
    per stream (a stream runs from a person appearing to their track ending; a video over 60 fps has
    several interleaved streams per person)."""
    keypoints: list[list[Keypoints]]
    streams: list[np.ndarray]  # (frames, J or J + 1, 3) network input each
    num_poses: int = 1  # how many people the front end looked for (the pipeline follows by it)
    smooths_landmarks: bool = False  # whether the front end smoothed its landmarks (then the pipeline did not)
    followed: int | None = None  # whom the second pass follows, chosen with hindsight (None: as the first pass)


@dataclass
class Lifted:
    """The lifter's output for one video's streams: pose (frames, J, 3) and uncertainty (frames, J), mm."""
    poses: list[np.ndarray]
    uncertainties: list[np.ndarray]


class RecordingKeypoints:
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


class ReplayedKeypoints:
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


class RecordingLifter(_StandInLifter):
    """The first pass's: keeps the inputs, and lifts them with ``backend`` as live, keeping its outputs
    too (without one, lifts nothing: NaN)."""

    def __init__(self, spec: LifterSpec, backend=None):
        super().__init__(spec)
        self.backend = backend
        self.streams: list[list[np.ndarray]] = []
        self.outputs: list[list[tuple[np.ndarray, np.ndarray]]] = []  # with a backend: its (pose, sigma)

    def reset(self) -> None:
        super().reset()
        if self.backend is not None:
            self.backend.reset()

    def release(self, key: Hashable) -> None:
        super().release(key)
        if self.backend is not None:
            self.backend.release(key)

    def step_streams(self, inputs: dict[Hashable, np.ndarray]) -> dict[Hashable, tuple[np.ndarray, np.ndarray]]:
        recorded = super().step_streams(inputs)
        if self.backend is None:
            return recorded
        lifted = self.backend.step_streams(inputs)
        for key, out in lifted.items():
            stream = self._open[key][0]
            if stream == len(self.outputs):
                self.outputs.append([])
            self.outputs[stream].append(out)
        return lifted

    def _frame(self, stream: int, frame: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if stream == len(self.streams):
            self.streams.append([])
        self.streams[stream].append(x)
        nan = np.full((self.spec.num_joints, 3), np.nan)
        return nan, nan[:, 0]


def recorded_track(found: RecordingKeypoints, given: RecordingLifter) -> Track2D:
    """What a first pass's recorders kept: MediaPipe's output per frame and the lifter's input per stream."""
    return Track2D(found.frames, [np.stack(s) for s in given.streams], found.num_poses, found.smooths_landmarks)


class ReplayedLifter(_StandInLifter):
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
    live causal step (the architecture's step module): every frame sees only itself and its past, as
    live; with ``two_way``, each stream's first frames also see their future (:meth:`with_the_future`)."""

    FLUSH = 256  # steps whose outputs wait on the device before they are copied back

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True, max_streams: int = 4096,
                 two_way: bool = False):
        self.device = torch.device(device)
        self.flip = flip
        self.two_way = two_way
        self.past = model.context[0]  # the frames of past a live step sees
        # The frames over which a stream's first frames take the lift from the future, fading out: half
        # the live step's receptive field, by when its lift has caught up (docs/lifter.md).
        self.ramp = (self.past + 1) // 2
        self.max_streams = max_streams
        self.module = model.cpu().eval().step_module().to(self.device)

    @torch.no_grad()
    def lift(self, tracks: list[Track2D]) -> list[Lifted]:
        """Each track's streams lifted as live; with ``two_way``, then :meth:`with_the_future`."""
        lifts = self._lifted([torch.as_tensor(s) for t in tracks for s in t.streams])
        lifted = _per_track(tracks, [(p.numpy(), expected_error(ls).numpy()) for p, ls in lifts])
        return self.with_the_future(tracks, lifted) if self.two_way else lifted

    @torch.no_grad()
    def with_the_future(self, tracks: list[Track2D], lifted: list[Lifted]) -> list[Lifted]:
        """``lifted`` (each track's streams as live lifted them) with each stream's first frames, lifted
        live from copies of the first as their past, blended with their lift from the future (the
        stream's first ``ramp + past`` frames lifted backwards in time). The future's weight falls from 1
        at the first frame to 0 at the ``ramp``-th."""
        reach = self.ramp + self.past
        ahead = self._lifted([torch.as_tensor(s[:reach]).flip(0) for t in tracks for s in t.streams])
        live = [(p, u) for one in lifted for p, u in zip(one.poses, one.uncertainties)]
        blended = []
        for (pose, sigma), (future, log_future) in zip(live, ahead):
            t = np.arange(min(len(pose), self.ramp))
            w = 1.0 - t / self.ramp
            future, future_sigma = future.flip(0).numpy()[t], expected_error(log_future.flip(0)).numpy()[t]
            pose, sigma = pose.copy(), sigma.copy()
            pose[t] += w[:, None, None] * (future - pose[t])
            sigma[t] = sigma[t] ** (1.0 - w[:, None]) * future_sigma ** w[:, None]  # the log scales blended
            blended.append((pose, sigma))
        return _per_track(tracks, blended)

    def _lifted(self, streams: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each stream's (pose, log scale), the frame and its mirror image averaged with ``flip``."""
        inputs = [v for s in streams for v in (with_mirror(s) if self.flip else s[None])]
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
        out: list = [None] * len(inputs)
        for start in range(0, len(order), self.max_streams):
            chunk = order[start:start + self.max_streams]
            for i, result in zip(chunk, self._run([inputs[i] for i in chunk])):
                out[i] = result
        k = 2 if self.flip else 1
        lifts = []
        for n in range(0, len(inputs), k):
            pose = torch.stack([out[n + m][0] for m in range(k)])
            log_scale = torch.stack([out[n + m][1] for m in range(k)])
            lifts.append(average_with_mirror(pose, log_scale) if self.flip else (pose[0], log_scale[0]))
        return lifts

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


def _per_track(tracks: list[Track2D], lifts: list[tuple[np.ndarray, np.ndarray]]) -> list[Lifted]:
    """The streams' (pose, uncertainty), in the tracks' order, as one :class:`Lifted` per track."""
    lifted, n = [], 0
    for track in tracks:
        mine = lifts[n: n + len(track.streams)]
        lifted.append(Lifted([p for p, _ in mine], [u for _, u in mine]))
        n += len(track.streams)
    return lifted


class TwoWayLift:
    """One video lifted in two passes of ``pipeline``, each stream's first frames from their future as
    well: made before the first pass, it records what MediaPipe found, what the lifter was given and
    what it gave, the pipeline's own front end and lifter still running (so the first pass is the live
    result); :meth:`second_pass` then blends each stream's first frames with their lift from the future
    (``BatchLifter.with_the_future``) and runs the video again through the pipeline with these,
    MediaPipe's recorded output in its place. :meth:`restore` puts the pipeline's own front end and
    lifter back: call it when done, whatever happened."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.keypoints, self.lifter = pipeline.keypoints, pipeline.lifter
        pipeline.keypoints = self._found = RecordingKeypoints(self.keypoints)
        pipeline.lifter = self._given = RecordingLifter(self.lifter.spec, self.lifter)

    def second_pass(self, path: str | Path, max_width: int | None = None,
                    each: Callable[[Frame, Result], None] | None = None, follow: int | None = None) -> list[Result]:
        """The results of the video at ``path`` (as the first pass read it), ``each(frame, result)``
        called on each as it comes, following ``follow`` from the start (None: as the first pass chose).
        A fault of the source part-way ends it: the first pass met the same one; frames beyond the first
        pass's are not read."""
        track, backend, pipeline = recorded_track(self._found, self._given), self.lifter, self.pipeline
        live = Lifted([np.stack([p for p, _ in s]) for s in self._given.outputs],
                      [np.stack([u for _, u in s]) for s in self._given.outputs])
        [lifted] = BatchLifter(backend.model, str(backend.device), backend.flip).with_the_future([track], [live])
        pipeline.keypoints, pipeline.lifter = ReplayedKeypoints(track), ReplayedLifter(backend.spec, track, lifted)
        pipeline.reset()
        if follow is not None:
            pipeline.follow(follow)
        results = []
        source = VideoFileSource(path, max_width=max_width).start()
        try:
            for frame in itertools.islice(source, len(track.keypoints)):
                results.append(pipeline.process(frame))
                if each is not None:
                    each(frame, results[-1])
        except SourceError:
            pass
        finally:
            source.stop()
        return results

    def restore(self) -> None:
        """The pipeline's own front end and lifter back in place."""
        self.pipeline.keypoints, self.pipeline.lifter = self.keypoints, self.lifter
