"""JSON over a WebSocket, for web pages: poselift serves ``ws://HOST:PORT`` and sends every page
connected to it one text message per frame (docs/streaming.md describes it):

    {"frame": 12, "time": 0.4, "person": 0, "seen": true, "grounded": true,
     "joints": {"pelvis": [x, y, z], ...}, "hips": [x, y, z], "bones": {"hips": [x, y, z, w], ...}}

Joints are H36M-17 by name, in metres, right-handed, Y up, Z towards the camera; bones are VRM 1.0's
humanoid bones with their rotations relative to their parent (identity: the T-pose facing +Z), as
three-vrm's normalised bones take them. A frame without the person has ``"seen": false`` and empty
joints and bones. Pages come and go as they like; one that is gone, or too slow to keep up (its unsent
data over :data:`BACKLOG_BYTES`), misses frames and holds up no one."""
from __future__ import annotations

import asyncio
import errno
import json
import threading

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve

from ...models.skeletons import H36M
from .stream_frame import StreamFrame
from .targets import StreamError, Target, resolve

BACKLOG_BYTES = 256 * 1024  # a page further behind than this skips frames until it catches up


def frame_json(frame: StreamFrame) -> str:
    """One frame as the message described in the module docstring."""
    seen = frame.seen
    message = {"frame": frame.index, "time": round(float(frame.time), 6), "person": frame.person_id,
               "seen": seen, "grounded": frame.grounded,
               "joints": dict(zip(H36M.joints, _rounded(frame.joints, 5))) if seen else {},
               "hips": _rounded(frame.hips, 5) if seen else None,
               "bones": dict(zip(frame.bones, _rounded(frame.rotations, 6))) if seen else {}}
    return json.dumps(message, separators=(",", ":"))


def _rounded(values: np.ndarray, decimals: int) -> list:
    return (np.round(values, decimals) + 0.0).tolist()  # + 0.0: no "-0.0" in the text


async def _listen(connection: ServerConnection) -> None:
    async for _ in connection:  # pages only listen: what they send is read and ignored
        pass


class WebSocketSender:
    """A WebSocket server on its own event loop thread, broadcasting each frame to every page."""

    def __init__(self, target: Target):
        self.target = target
        resolve(target)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"serve {target}", daemon=True)
        self._thread.start()
        try:
            self._server: Server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result()
        except OSError as e:
            self._stop_loop()
            raise StreamError(_serve_failure(target, e)) from None

    async def _serve(self) -> Server:
        return await serve(_listen, self.target.host, self.target.port, compression=None)

    @property
    def clients(self) -> int:
        return len(self._server.connections)

    def send(self, frame: StreamFrame) -> None:
        self._loop.call_soon_threadsafe(self._broadcast, frame_json(frame))

    def _broadcast(self, message: str) -> None:
        broadcast([c for c in self._server.connections if c.transport.get_write_buffer_size() < BACKLOG_BYTES],
                  message)

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def _serve_failure(target: Target, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (f"port {target.port} on {target.host} is already in use (another program, or another stream): "
                f"choose another port, e.g. ws://{target.host}:{target.port + 1}.")
    return (f"{target} cannot be served ({error.strerror or error}): give an address of this machine "
            f"(0.0.0.0 for all of its networks, 127.0.0.1 for itself only) and a port from 1024 up.")
