"""Choosing the shape from the settings: `SWITCHBOARD_REDIS_URL` empty means embedded.

A service's lifespan opens this once and hands the parts down; the code using them
never knows which shape it got.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from switchboard_core.settings import ServiceSettings
from switchboard_core.shared.bus import Bus, InProcessBus
from switchboard_core.shared.leader import AlwaysLeader, Leadership, RedisLeadership
from switchboard_core.shared.redis_bus import RedisBus
from switchboard_core.shared.redis_client import RedisConfig, connect
from switchboard_core.shared.redis_level import RedisLevel


@dataclass
class Shared:
    service: str
    bus: Bus
    leadership: Leadership
    redis: Redis | None  # None when embedded

    def level(self, name: str, **options: Any) -> RedisLevel | None:
        """The shared level `switchboard:<service>:<name>` for a cache that keeps its own
        in-process level; None when embedded (one process: nothing to share)."""
        if self.redis is None:
            return None
        return RedisLevel(f"{self.service}:{name}", self.redis, counter=name, **options)


def local_shared(service: str) -> Shared:
    """The embedded parts, for a service started without a host (tests, tools): they hold
    nothing that needs closing."""
    return Shared(service, InProcessBus(), AlwaysLeader(service), None)


@contextlib.asynccontextmanager
async def open_shared(settings: ServiceSettings, service: str) -> AsyncIterator[Shared]:
    """Embedded parts, or parts over Redis once it answered (retried with backoff at start)."""
    if not settings.redis_url:
        bus = InProcessBus()
        try:
            yield Shared(service, bus, AlwaysLeader(service), None)
        finally:
            await bus.close()
        return
    config = RedisConfig.from_settings(settings)
    client = await connect(config)
    redis_bus = RedisBus(client, config)
    try:
        await redis_bus.start()
        leadership = RedisLeadership(client, service, ttl_s=settings.leader_ttl_s)
        yield Shared(service, redis_bus, leadership, client)
    finally:
        await redis_bus.close()
        await client.aclose()
