"""Where a stream goes, written as a URL: ``vmc://HOST:PORT`` (a VMC receiver there) or ``ws://HOST:PORT``
(a WebSocket served there); a bad one is refused in one sentence."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...errors import UserError

SCHEMES = ("vmc", "ws")
EXAMPLES = "vmc://127.0.0.1:39539 or ws://0.0.0.0:8765"


class StreamError(UserError):
    """A stream target that cannot be used: a bad URL, an unknown host, a port already taken."""


@dataclass(frozen=True)
class Target:
    scheme: str  # "vmc" or "ws"
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_target(url: str) -> Target:
    """``vmc://HOST:PORT`` or ``ws://HOST:PORT``, refused in one sentence otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise StreamError(f"{url!r} is not a stream target: give vmc://HOST:PORT or ws://HOST:PORT "
                          f"(e.g. {EXAMPLES}).")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or not port or parts.path.strip("/") or parts.query:
        raise StreamError(f"{url!r} needs a host and a port from 1 to 65535: write it as "
                          f"{parts.scheme}://HOST:PORT (e.g. {EXAMPLES}).")
    return Target(parts.scheme, parts.hostname, port)


def resolve(target: Target) -> str:
    """The target host's address; a name that does not resolve is refused before anything is sent."""
    try:
        return socket.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)[0][4][0]
    except socket.gaierror as e:
        raise StreamError(f"the host {target.host!r} of {target} cannot be found ({e.strerror}): check its "
                          f"name, or give its IP address.") from None
