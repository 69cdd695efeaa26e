"""A Redis client that counts its round trips (`counters`: `redis.commands`).

A command counts once, a pipeline once however many commands it carries: what is
counted is a trip to Redis and back, the cost a request would pay. The pub/sub
connection of the bus talks to Redis on its own (`PubSub`), and is not counted.

A command or pipeline that fails is counted by kind for Prometheus
(`switchboard_redis_errors_total{kind}`, `failure_kind`): timeout, connection, server
(Redis answered with an error: READONLY, NOAUTH, OOM), other. A command its caller
gave up on at a deadline of its own (`asyncio.timeout`: what a Redis that accepts but
never answers causes) raises nothing here; it is counted, as a timeout, where the caller
handles the failure (`redis_client.reraise_cancellation`, which every handler calls),
as are the failures of the bus's pub/sub connection.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from switchboard_core.counters import COUNTERS
from switchboard_core.prometheus.catalogue import REDIS_ERRORS

# What a failed round trip raises, most specific first (redis-py's TimeoutError and
# ConnectionError are RedisErrors too).
_KINDS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    ((redis.exceptions.TimeoutError, TimeoutError), "timeout"),
    ((redis.exceptions.ConnectionError, OSError), "connection"),
    (redis.exceptions.ResponseError, "server"),
    (redis.exceptions.RedisError, "other"),
)


def failure_kind(exc: BaseException) -> str | None:
    """The `kind` label of a failed round trip; None for what is no Redis failure."""
    for types, kind in _KINDS:
        if isinstance(exc, types):
            return kind
    return None


# Set on a failure once counted: it is seen again where the caller handles it.
_COUNTED = "_switchboard_redis_failure_counted"


def count_failure(exc: BaseException) -> None:
    """Count `exc` under its kind, once however many places see it."""
    kind = failure_kind(exc)
    if kind is None or getattr(exc, _COUNTED, False):
        return
    REDIS_ERRORS.labels(kind).inc()
    setattr(exc, _COUNTED, True)


class CountedRedis(Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        COUNTERS.add("redis.commands")
        try:
            return await super().execute_command(*args, **options)
        except (redis.exceptions.RedisError, OSError) as exc:
            count_failure(exc)
            raise

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return CountedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class CountedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.command_stack:
            COUNTERS.add("redis.commands")
        try:
            return await super().execute(raise_on_error)
        except (redis.exceptions.RedisError, OSError) as exc:
            count_failure(exc)
            raise
