"""The inference thread: reads the source, runs the pipeline, records, and hands the GUI the latest
result. The GUI thread never runs inference; it only draws what :meth:`latest` returns."""
from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Callable

from PySide6 import QtCore

from ..engine.live.pipeline import Pipeline, Result
from ..engine.live.sources import END, Source, SourceError
from ..engine.outputs.recorder import Recorder
from ..engine.outputs.stream import Streamer


class InferenceWorker(QtCore.QObject):
    result_ready = QtCore.Signal()
    failed = QtCore.Signal(str)
    ended = QtCore.Signal()

    def __init__(self, pipeline: Pipeline, recorder: Recorder):
        super().__init__()
        self.pipeline = pipeline
        self.recorder = recorder
        self.streamer: Streamer | None = None  # set while the Stream switch is on
        self.source: Source | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: tuple | None = None
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._result_times: deque[float] = deque(maxlen=60)
        self._latencies: deque[float] = deque(maxlen=60)
        self.results = 0

    def open(self, source: Source) -> None:
        """Switch to ``source`` (already started); the previous one is stopped."""
        self.close()
        self.source = source
        self.pipeline.reset()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(source,), name="inference", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.source is not None:
            self.source.stop()
            self.source = None

    def call(self, command: Callable[[], None]) -> None:
        """Run ``command`` on the inference thread between two frames (or now, when idle)."""
        if self._thread is None or not self._thread.is_alive():
            command()
        else:
            self._commands.put(command)

    def latest(self) -> tuple | None:
        """(image, Result) of the newest frame, or None when there is nothing new since the last call."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest

    def stats(self) -> dict:
        times = list(self._result_times)
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        lat = sorted(self._latencies)
        return {"fps": fps, "latency_ms": lat[len(lat) // 2] if lat else 0.0,
                "dropped": self.source.dropped if self.source else 0, "backend": self.pipeline.lifter.name}

    def _apply_commands(self) -> None:
        while True:
            try:
                self._commands.get_nowait()()
            except queue.Empty:
                return

    def _run(self, source: Source) -> None:
        while not self._stop.is_set():
            self._apply_commands()
            try:
                item = source.read(timeout=0.05)
            except queue.Empty:
                continue
            if item is END:
                self.ended.emit()
                return
            if isinstance(item, SourceError):
                self.failed.emit(str(item))
                continue
            try:
                result: Result = self.pipeline.process(item)
            except Exception as e:  # one sentence in the status bar, and the stream goes on
                self.failed.emit(f"frame {item.index} could not be processed: {e}")
                continue
            self.recorder.append(result)
            if (streamer := self.streamer) is not None:
                streamer.send(result)
            self._result_times.append(result.t_result)
            self._latencies.append(result.latency_ms)
            self.results += 1
            with self._lock:
                self._latest = (item.image, result)
            self.result_ready.emit()
