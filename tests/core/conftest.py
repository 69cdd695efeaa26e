"""Fixtures for the shared building blocks: replicas (clients, buses) on a private Redis,
with timings shortened so that outages are noticed and mended within a test's patience."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from switchboard_core.shared.redis_bus import RedisBus
from switchboard_core.shared.redis_client import RedisConfig, make_client
from switchboard_testing.redis_server import RedisServer

# A silent Redis is noticed after 3 pings (0.6 s); a publish gives up after 0.3 s.
PING_INTERVAL_S = 0.2
PUBLISH_TIMEOUT_S = 0.3
POLL_S = 0.02


def fast_config(url: str) -> RedisConfig:
    return RedisConfig(url=url, retry_interval_s=0.2, socket_timeout_s=0.5, connect_timeout_s=0.5)


@dataclass
class Replicas:
    """Clients and buses standing for separate replicas of one service (one Redis client each)."""

    config: RedisConfig
    ping_interval_s: float = PING_INTERVAL_S
    publish_timeout_s: float = PUBLISH_TIMEOUT_S
    clients: list[Redis] = field(default_factory=list)
    buses: list[RedisBus] = field(default_factory=list)

    def client(self) -> Redis:
        client = make_client(self.config)
        self.clients.append(client)
        return client

    async def bus(self) -> RedisBus:
        bus = RedisBus(
            self.client(),
            self.config,
            ping_interval_s=self.ping_interval_s,
            publish_timeout_s=self.publish_timeout_s,
        )
        self.buses.append(bus)
        await bus.start()
        return bus

    async def close(self) -> None:
        for bus in self.buses:
            await bus.close()
        for client in self.clients:
            await client.aclose()


@pytest.fixture
def open_replicas(redis_server: RedisServer) -> Replicas:
    """Replicas on the test's Redis that the requester closes (for fixtures that choose at run time)."""
    return Replicas(fast_config(redis_server.url))


@pytest.fixture
async def replicas(open_replicas: Replicas) -> AsyncIterator[Replicas]:
    try:
        yield open_replicas
    finally:
        await open_replicas.close()


Condition = Callable[[], object]


async def _eventually(condition: Condition, *, within_s: float, what: str = "condition") -> None:
    try:
        async with asyncio.timeout(within_s):
            while not await _holds(condition):  # noqa: ASYNC110 - most conditions have no event
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        raise AssertionError(f"{what} not met within {within_s}s") from None


async def _holds(condition: Condition) -> bool:
    value = condition()
    if inspect.isawaitable(value):
        value = await value
    return bool(value)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """`await eventually(lambda: ..., within_s=1)`: poll a condition (plain or async) until it
    holds, or fail the test at the deadline."""
    return _eventually
