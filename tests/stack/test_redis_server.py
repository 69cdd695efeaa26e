"""The `redis_server` fixture: a private Redis for a test, never the system one."""

from __future__ import annotations

import socket

import pytest
from switchboard_testing.redis_server import RedisServer, redis_binary, start_redis


def command(port: int, *parts: bytes) -> bytes:
    wire = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(wire)
        return sock.recv(1024)


def test_a_private_redis_answers_on_a_port_of_its_own(redis_server: RedisServer) -> None:
    assert redis_server.port != 6379
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert command(redis_server.port, b"SET", b"k", b"v") == b"+OK\r\n"
    assert command(redis_server.port, b"GET", b"k") == b"$1\r\nv\r\n"
    # Nothing is persisted: no snapshots, no append-only file.
    assert command(redis_server.port, b"CONFIG", b"GET", b"save") == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"


def test_leaving_start_redis_stops_it() -> None:
    if redis_binary() is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    with start_redis() as running:
        process = running.child.process
    assert process.poll() is not None
