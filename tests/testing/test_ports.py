"""free_port hands out a loopback port that can be bound right away."""

from __future__ import annotations

import socket

from switchboard_testing import free_port


def test_free_port_can_be_bound_on_loopback():
    port = free_port()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname()[1] == port
