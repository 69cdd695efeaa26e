"""One setting picks the shape: no Redis URL, in-process parts; a Redis URL, parts over Redis."""

from __future__ import annotations

from switchboard_core.settings import ServiceSettings
from switchboard_core.shared.bus import InProcessBus
from switchboard_core.shared.leader import AlwaysLeader, RedisLeadership
from switchboard_core.shared.redis_bus import RedisBus
from switchboard_core.shared.redis_client import namespaced
from switchboard_core.shared.runtime import open_shared
from switchboard_testing.redis_server import RedisServer


async def test_without_a_redis_url_every_part_is_in_process():
    async with open_shared(ServiceSettings(redis_url=""), "registry") as shared:
        assert isinstance(shared.bus, InProcessBus)
        assert isinstance(shared.leadership, AlwaysLeader)
        assert shared.redis is None
        assert shared.level("catalog") is None  # one process: nothing to share


async def test_with_a_redis_url_the_parts_share_redis_under_the_service_namespace(redis_server: RedisServer):
    settings = ServiceSettings(redis_url=redis_server.url, redis_retry_interval_ms=100)
    async with open_shared(settings, "registry") as shared:
        assert isinstance(shared.bus, RedisBus)
        assert isinstance(shared.leadership, RedisLeadership)
        level = shared.level("catalog")
        await level.put("server-1", b"v")
        assert shared.redis is not None
        assert await shared.redis.get(namespaced("registry", "catalog", "server-1")) == b"v"
