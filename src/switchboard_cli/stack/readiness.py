"""Waiting for a freshly started process to answer, failing fast if any child dies."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx

from switchboard_cli.stack.errors import StackStartError
from switchboard_cli.stack.processes import Supervisor

POLL_INTERVAL_S = 0.1
READY_TIMEOUT_S = 60.0


def wait_until(
    ready: Callable[[], bool], *, what: str, supervisor: Supervisor, timeout_s: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        supervisor.check()
        if time.monotonic() >= deadline:
            raise StackStartError(f"{what} was not ready within {timeout_s:.0f}s")
        time.sleep(POLL_INTERVAL_S)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    return check


def answers(port: int, send: bytes, expect: bytes, host: str = "127.0.0.1") -> Callable[[], bool]:
    """True once a TCP server on `port` answers `send` with something starting with `expect`."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0) as sock:
                sock.sendall(send)
                return sock.recv(len(expect)) == expect
        except OSError:
            return False

    return check
