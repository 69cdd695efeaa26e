"""Free TCP ports on loopback for servers started by tests and benchmarks."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now.

    The kernel picks it; the socket is closed before returning, so there is a small
    window in which another process could take it. Servers started on it should be
    waited on (and fail loudly) rather than assumed to have bound.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
