"""The followed person's skeleton streamed live to other programs while the pipeline runs.

Each result becomes one :class:`StreamFrame` (joints in metres, Y up, and the humanoid's bone
rotations); a :class:`Streamer` hands it to every target, each on its own thread behind a short
queue, so that a slow or vanished receiver drops its own frames and never holds up the pipeline, the
window or the other receivers. The targets are written as URLs: ``vmc://HOST:PORT`` sends the VMC
protocol over OSC to a receiver there (:mod:`.vmc`), ``ws://HOST:PORT`` serves a WebSocket there
that every web page connected to it gets JSON from (:mod:`.websocket`)."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from ...models.humanoid import Humanoid
from ..live.pipeline import Result
from .stream_frame import StreamFrame, frame_of
from .targets import Target
from .vmc import VmcSender
from .websocket import WebSocketSender


class Sender(Protocol):
    """One transport to one target."""
    target: Target

    def send(self, frame: StreamFrame) -> None: ...

    def close(self) -> None: ...


_CLOSE = object()


class Lane:
    """One sender on its own thread behind a short queue: when the sender falls behind, the oldest
    waiting frames are dropped (and counted) and the caller is never held up. A failed send is
    reported once (``report``), until the sender succeeds again."""

    def __init__(self, sender: Sender, report: Callable[[str], None], depth: int = 4):
        self.sender = sender
        self.dropped = 0
        self._report = report
        self._queue: queue.Queue = queue.Queue(depth)
        self._thread = threading.Thread(target=self._run, name=f"stream {sender.target}", daemon=True)
        self._thread.start()

    def put(self, item) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def close(self, timeout: float = 2.0) -> None:
        self.put(_CLOSE)
        self._thread.join(timeout)
        self.sender.close()

    def _run(self) -> None:
        failing = None
        while (frame := self._queue.get()) is not _CLOSE:
            try:
                self.sender.send(frame)
                failing = None
            except Exception as e:  # noqa: BLE001 - whatever the receiver's trouble, the stream goes on
                message = failure(self.sender.target, e)
                if message != failing:
                    self._report(message)
                failing = message


def failure(target: Target, error: Exception) -> str:
    """One sentence for a send that failed; the stream goes on."""
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return (f"streaming to {target} failed ({reason}): check that the receiver's address is right and that it "
            f"is running; the stream goes on and resumes when it is reachable.")


def open_sender(target: Target) -> Sender:
    """The transport for ``target``, ready: a host that cannot be found or a port that cannot be served
    raises :class:`StreamError`."""
    return VmcSender(target) if target.scheme == "vmc" else WebSocketSender(target)


class Streamer:
    """Every result to every target. ``send`` costs the caller the frame's conversion only; the
    transports run on their own threads. ``report`` gets a sentence when a target fails mid-stream
    (it is called on that target's thread)."""

    def __init__(self, targets: Iterable[Target | Sender], report: Callable[[str], None] = lambda _: None,
                 humanoid: Humanoid | None = None):
        self.humanoid = humanoid or Humanoid()
        self.lanes: list[Lane] = []
        self._closed = False
        try:
            for target in targets:
                sender = open_sender(target) if isinstance(target, Target) else target
                self.lanes.append(Lane(sender, report))
        except BaseException:
            self.close()
            raise

    @property
    def targets(self) -> list[Target]:
        return [lane.sender.target for lane in self.lanes]

    def send(self, result: Result) -> StreamFrame | None:
        """Stream ``result``'s followed person; None once closed."""
        if self._closed:
            return None
        frame = frame_of(result, self.humanoid)
        for lane in self.lanes:
            lane.put(frame)
        return frame

    def close(self) -> None:
        self._closed = True
        for lane in self.lanes:
            lane.close()
