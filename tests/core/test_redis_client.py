"""Reaching Redis: settings, the client's shape, and waiting for a Redis started late."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from redis.asyncio.connection import _AsyncHiredisParser
from switchboard_core.errors import DependencyUnavailable, status_of
from switchboard_core.settings import ServiceSettings
from switchboard_core.shared.redis_client import RedisConfig, connect, make_client, namespaced
from switchboard_testing.ports import free_port
from switchboard_testing.redis_server import RedisServer, redis_binary, start_redis


def test_redis_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://:secret@redis.internal:6380/2")
    monkeypatch.setenv("SWITCHBOARD_REDIS_MAX_RETRIES", "5")
    monkeypatch.setenv("SWITCHBOARD_REDIS_RETRY_INTERVAL_MS", "250")
    config = RedisConfig.from_settings(ServiceSettings())
    assert (config.max_retries, config.retry_interval_s) == (5, 0.25)
    # Logs and errors name the server, never the password.
    assert config.where == "redis://redis.internal:6380/2"


def test_without_a_redis_url_the_settings_mean_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_REDIS_URL", raising=False)
    settings = ServiceSettings()
    assert settings.redis_url == ""
    assert (settings.redis_max_retries, settings.redis_retry_interval_ms) == (30, 2000)


def test_keys_and_channels_are_namespaced_by_service() -> None:
    assert namespaced("registry", "leader", "health") == "switchboard:registry:leader:health"


async def test_clients_parse_replies_with_hiredis(redis_server: RedisServer) -> None:
    client = make_client(RedisConfig(redis_server.url))
    try:
        assert await client.ping()
        connection = await client.connection_pool.get_connection()
        assert isinstance(connection._parser, _AsyncHiredisParser)
        await client.connection_pool.release(connection)
    finally:
        await client.aclose()


async def test_a_redis_that_never_answers_is_dependency_unavailable_after_the_last_attempt() -> None:
    config = RedisConfig(f"redis://127.0.0.1:{free_port()}/0", max_retries=3, retry_interval_s=0.01)
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="Redis at redis://127.0.0.1") as caught:
        await connect(config)
    assert time.monotonic() - started < 2.0
    assert status_of(caught.value)[0] == 503


class _FailedAttempts(logging.Handler):
    """Counts the backoff's "failed (attempt n/N)" warnings; `reached(n)` is set at the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.events: dict[int, asyncio.Event] = {}

    def reached(self, n: int) -> asyncio.Event:
        return self.events.setdefault(n, asyncio.Event())

    def emit(self, record: logging.LogRecord) -> None:
        if "failed (attempt" in record.getMessage():
            self.count += 1
            self.reached(self.count).set()


async def test_a_replica_started_before_redis_connects_once_redis_answers_and_idles_meanwhile() -> None:
    if redis_binary() is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    config = RedisConfig(f"redis://127.0.0.1:{port}/0", max_retries=30, retry_interval_s=0.25)
    attempts = _FailedAttempts()
    backoff_log = logging.getLogger("switchboard_core.resilience.backoff")
    backoff_log.addHandler(attempts)
    cpu_before, started = time.process_time(), time.monotonic()
    connecting = asyncio.create_task(connect(config))
    try:
        # Four refusals (pauses of ~0.25, 0.5, 1 and then 2 s follow): Redis is still absent.
        async with asyncio.timeout(5):
            await attempts.reached(4).wait()
        assert not connecting.done()
        with start_redis(port=port):
            async with asyncio.timeout(5):
                client = await connecting
            waited, cpu = time.monotonic() - started, time.process_time() - cpu_before
            assert await client.ping()
            await client.aclose()
    finally:
        backoff_log.removeHandler(attempts)
        connecting.cancel()
    assert attempts.count == 4
    # It waited (~3.75 s) on timers, not by spinning.
    assert waited > 2.5
    assert cpu < 0.2, f"{cpu:.3f}s of CPU over {waited:.1f}s of waiting"
