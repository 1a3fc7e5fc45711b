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

from dataclasses import dataclass
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
    """The first pass's: keeps the inputs, and lifts them with ``backend`` as live (without one, lifts
    nothing: NaN)."""

    def __init__(self, spec: LifterSpec, backend=None):
        super().__init__(spec)
        self.backend = backend
        self.streams: list[list[np.ndarray]] = []

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
        return recorded if self.backend is None else self.backend.step_streams(inputs)

    def _frame(self, stream: int, frame: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if stream == len(self.streams):
            self.streams.append([])
        self.streams[stream].append(x)
        nan = np.full((self.spec.num_joints, 3), np.nan)
        return nan, nan[:, 0]


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
    live causal step (the architecture's step module): every frame sees only itself and its past, as live."""

    FLUSH = 256  # steps whose outputs wait on the device before they are copied back

    def __init__(self, model: torch.nn.Module, device: str = "cpu", flip: bool = True, max_streams: int = 4096,
                 two_way: bool = False):
        self.device = torch.device(device)
        self.flip = flip
        self.two_way = two_way
        # The frames over which a stream's first frames take the lift from the future, fading out: half
        # the live step's receptive field, by when its lift has caught up (docs/lifter.md).
        self.ramp = (model.context[0] + 1) // 2
        self.max_streams = max_streams
        self.module = model.cpu().eval().step_module().to(self.device)

    @torch.no_grad()
    def lift(self, tracks: list[Track2D]) -> list[Lifted]:
        """Each track's streams lifted. With ``two_way`` each stream also runs backwards in time, and
        at a stream's first frames (lifted live from copies of its first as their past) the lift from the
        future takes over: wholly at the first frame, fading out linearly over ``ramp`` frames."""
        streams = [torch.as_tensor(s) for t in tracks for s in t.streams]
        ways = [streams, [s.flip(0) for s in streams]] if self.two_way else [streams]
        inputs = [v for way in ways for s in way for v in (with_mirror(s) if self.flip else s[None])]
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
        out: list = [None] * len(inputs)
        for start in range(0, len(order), self.max_streams):
            chunk = order[start:start + self.max_streams]
            for i, result in zip(chunk, self._run([inputs[i] for i in chunk])):
                out[i] = result
        k = 2 if self.flip else 1
        lifts = self._combined(out, len(streams), k)
        if self.two_way:
            backwards = self._combined(out[k * len(streams):], len(streams), k)
            for i, ((pose, log_scale), (ahead, log_ahead)) in enumerate(zip(lifts, backwards)):
                w = (1.0 - (torch.arange(len(pose)) + 1.0) / self.ramp).clamp(min=0.0)[:, None]  # the future's weight
                lifts[i] = pose + w[..., None] * (ahead.flip(0) - pose), log_scale + w * (log_ahead.flip(0) - log_scale)
        lifted, n = [], 0
        for track in tracks:
            mine = lifts[n: n + len(track.streams)]
            lifted.append(Lifted([p.numpy() for p, _ in mine], [expected_error(ls).numpy() for _, ls in mine]))
            n += len(track.streams)
        return lifted

    def _combined(self, out: list, streams: int, k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The first ``streams`` streams' (pose, log scale), each from its ``k`` consecutive outputs (the
        frame and its mirror image, averaged, with ``flip``)."""
        combined = []
        for n in range(0, streams * k, k):
            pose = torch.stack([out[n + m][0] for m in range(k)])
            log_scale = torch.stack([out[n + m][1] for m in range(k)])
            combined.append(average_with_mirror(pose, log_scale) if self.flip else (pose[0], log_scale[0]))
        return combined

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


class TwoWayLift:
    """One video lifted both ways in time, in two passes of ``pipeline``: made before the first pass, it
    records what MediaPipe found and what the lifter was given, the pipeline's own front end and lifter
    still running (so the first pass is the live result); :meth:`second_pass` then lifts every recorded
    stream again, its first frames from their future (``BatchLifter(two_way=True)``), and runs the
    video again through the pipeline with these, MediaPipe's recorded output in its place. The
    pipeline's own front end and lifter are back afterwards, or after :meth:`restore` when the second
    pass does not run."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.keypoints, self.lifter = pipeline.keypoints, pipeline.lifter
        pipeline.keypoints = self._found = RecordingKeypoints(self.keypoints)
        pipeline.lifter = self._given = RecordingLifter(self.lifter.spec, self.lifter)

    def second_pass(self, source: VideoFileSource, each: Callable[[Frame, Result], None] | None = None) -> list[Result]:
        """The results of every frame of ``source`` (started; stopped here), ``each(frame, result)`` called
        on each as it comes. A fault of the source part-way ends it: the first pass met the same one."""
        found, given = self._found, self._given
        track = Track2D(found.frames, [np.stack(s) for s in given.streams], found.num_poses, found.smooths_landmarks)
        backend = self.lifter
        [lifted] = BatchLifter(backend.model, str(backend.device), backend.flip, two_way=True).lift([track])
        pipeline = self.pipeline
        pipeline.keypoints, pipeline.lifter = ReplayedKeypoints(track), ReplayedLifter(backend.spec, track, lifted)
        pipeline.reset()
        results = []
        try:
            for frame in source:
                results.append(pipeline.process(frame))
                if each is not None:
                    each(frame, results[-1])
        except SourceError:
            pass
        finally:
            source.stop()
            self.restore()
        return results

    def restore(self) -> None:
        """The pipeline's own front end and lifter back in place."""
        self.pipeline.keypoints, self.pipeline.lifter = self.keypoints, self.lifter
