"""A Redis client that counts its round trips (`counters`: `redis.commands`).

A command counts once, a pipeline once however many commands it carries: what is
counted is a trip to Redis and back, the cost a request would pay. The pub/sub
connection of the bus talks to Redis on its own (`PubSub`), and is not counted.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from switchboard_core.counters import COUNTERS


class CountedRedis(Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        COUNTERS.add("redis.commands")
        return await super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return CountedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class CountedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.command_stack:
            COUNTERS.add("redis.commands")
        return await super().execute(raise_on_error)
