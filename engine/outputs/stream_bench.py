"""`poselift bench --stream`: how long a result takes to reach a receiver, from the moment the pipeline
hands it over to the moment a local receiver on 127.0.0.1 has it decoded, for each transport: a VMC
marionette (python-osc's OSC server) and a web page (a WebSocket client). The receivers here are real
ones, written as the programs on the other end would be; the tests use them too."""
from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ..live.bench import stats
from ..live.pipeline import Pipeline, Result
from ..live.sources import VideoFileSource
from .stream import Streamer
from .targets import Target


class OscReceiver:
    """A VMC marionette on 127.0.0.1 (a free port): every OSC message with the perf_counter it arrived at,
    in arrival order."""

    def __init__(self):
        self.messages: list[tuple[float, str, tuple]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.append((time.perf_counter(), address,
                                                                                     args)))
        self._server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="osc receiver", daemon=True).start()

    def frames(self) -> list[list[tuple[str, tuple]]]:
        """The messages, (address, args), split into frames, each ending with /VMC/Ext/T."""
        frames, current = [], []
        for _, address, args in list(self.messages):
            current.append((address, args))
            if address == "/VMC/Ext/T":
                frames.append(current)
                current = []
        return frames

    def arrivals(self) -> dict[float, float]:
        """Each frame's time (/VMC/Ext/T) -> when it arrived."""
        return {args[0]: t for t, address, args in list(self.messages) if address == "/VMC/Ext/T"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Page:
    """A web page's WebSocket client of ``ws://127.0.0.1:PORT``: every message, decoded, with the
    perf_counter it arrived at."""

    def __init__(self, port: int, timeout: float = 5.0):
        self.messages: list[dict] = []
        self.arrived: list[float] = []
        self.connection = None
        connected = threading.Event()

        def read() -> None:
            with connect(f"ws://127.0.0.1:{port}") as self.connection:
                connected.set()
                try:
                    for text in self.connection:
                        self.arrived.append(time.perf_counter())
                        self.messages.append(json.loads(text))
                except (OSError, ConnectionClosed):  # gone without a goodbye
                    pass

        threading.Thread(target=read, name="page", daemon=True).start()
        if not connected.wait(timeout):
            raise TimeoutError(f"no WebSocket server answered at ws://127.0.0.1:{port}")

    def arrivals(self) -> dict[float, float]:
        """Each frame's time -> when it arrived."""
        return {m["time"]: t for m, t in zip(list(self.messages), list(self.arrived))}

    def close(self) -> None:
        self.connection.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clip_results(path: str | Path, pipeline: Pipeline, max_width: int | None = 640, frames: int = 60
                 ) -> tuple[list[Result], float]:
    """The pipeline's results for the video's first ``frames`` frames, and its frame rate."""
    source = VideoFileSource(path, max_width=max_width).start()
    results = [pipeline.process(frame) for frame, _ in zip(source, range(frames))]
    source.stop()
    pipeline.reset()
    return results, source.fps


def bench_stream(results: list[Result], fps: float, frames: int = 300) -> list[dict]:
    """Result-to-receiver latency per transport on loopback, the results replayed in turn at ``fps`` for
    ``frames`` frames: median, p90 and p95 (ms), and how many frames never arrived."""
    rows = []
    for scheme in ("vmc", "ws"):
        receiver = OscReceiver() if scheme == "vmc" else None
        target = Target(scheme, "127.0.0.1", receiver.port if receiver else free_port())
        streamer = Streamer([target])
        receiver = receiver or Page(target.port)
        sent = {}
        for i in range(frames):
            result = dataclasses.replace(results[i % len(results)], index=i, timestamp=round(i / fps, 4))
            result.t_result = time.perf_counter()
            streamer.send(result)
            sent[float(np.float32(result.timestamp)) if scheme == "vmc" else result.timestamp] = result.t_result  # as sent
            time.sleep(max(0.0, result.t_result + 1 / fps - time.perf_counter()))
        time.sleep(0.2)
        streamer.close()
        arrived = receiver.arrivals()
        receiver.close()
        latency = [arrived[t] - t0 for t, t0 in sent.items() if t in arrived]
        rows.append(stats(f"result-to-receiver latency ({scheme}://, loopback, {fps:g} fps)", latency,
                          p95_ms=float(np.percentile(latency, 95) * 1000), lost=len(sent) - len(latency)))
    return rows
