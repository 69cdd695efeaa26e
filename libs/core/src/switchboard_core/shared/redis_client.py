"""Redis clients for distributed mode: the one place that picks timeouts, parser and retries.

Commands are tried once, with short socket timeouts: each caller knows what a failure
means for it (the bus reconnects, the cache falls back to its loader, a leader gives up
its lease), so a retry loop inside the client would only stretch their deadlines and
hide outages. Reaching Redis at start-up is the one place that waits, with the
project's backoff (`resilience.backoff`), so a replica started before Redis never
crash-loops.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from switchboard_core.errors import DependencyUnavailable
from switchboard_core.resilience.backoff import retry
from switchboard_core.settings import ServiceSettings
from switchboard_core.shared.counted_redis import CountedRedis, count_failure

logger = logging.getLogger(__name__)

# Everything that means "Redis is not answering" (the builtin TimeoutError is what
# asyncio.timeout raises; OSError covers refused and reset sockets).
REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TimeoutError,
    OSError,
)
# ... or answering with an error (READONLY after a failover, NOAUTH): it failed all the same.
REDIS_FAILED: tuple[type[BaseException], ...] = (*REDIS_DOWN, redis.exceptions.RedisError)
# Keys and channels of every service live under this prefix, then the service's name.
PREFIX = "switchboard"


def namespaced(*parts: str) -> str:
    """`switchboard:<service>:...`: the name of a key or channel in the shared Redis."""
    return ":".join((PREFIX, *parts))


@dataclass(frozen=True)
class RedisConfig:
    url: str
    max_retries: int = 30
    retry_interval_s: float = 2.0
    # A command that has no answer within this long counts as Redis being down.
    socket_timeout_s: float = 2.0
    connect_timeout_s: float = 1.0
    # An idle pooled connection is PINGed before reuse after this long (a dead one is replaced).
    health_check_interval_s: int = 10

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> RedisConfig:
        return cls(
            url=settings.redis_url,
            max_retries=settings.redis_max_retries,
            retry_interval_s=settings.redis_retry_interval_ms / 1000,
        )

    @property
    def where(self) -> str:
        """The URL without credentials, for logs and error messages."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}{parts.path}"


def make_client(config: RedisConfig) -> Redis:
    """A client (connection pool) that connects lazily, counting its commands; no I/O happens here."""
    # hiredis parses replies when installed (it is a dependency): redis-py picks it itself.
    return CountedRedis.from_url(
        config.url,
        socket_timeout=config.socket_timeout_s,
        socket_connect_timeout=config.connect_timeout_s,
        health_check_interval=config.health_check_interval_s,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )


async def connect(config: RedisConfig) -> Redis:
    """A client that has answered PING, trying with backoff until `max_retries` run out.

    Raises `DependencyUnavailable` when Redis never answered.
    """
    client = make_client(config)

    async def ping() -> None:
        try:
            await client.ping()
        except REDIS_DOWN:
            reraise_cancellation()
            raise

    try:
        await retry(
            f"reaching Redis at {config.where}",
            ping,
            retry_on=REDIS_DOWN,
            attempts=config.max_retries,
            base=config.retry_interval_s,
        )
    except REDIS_DOWN as exc:
        await client.aclose()
        raise unavailable(config.where, exc) from exc
    except BaseException:
        await client.aclose()
        raise
    logger.info("connected to Redis at %s", config.where)
    return client


async def unlink_prefixed(client: Redis, prefix: str, *, batch: int = 500) -> None:
    """Delete every key starting with `prefix`, a batch at a time (SCAN, never KEYS)."""
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
    names: list[bytes] = []
    async for name in client.scan_iter(match=pattern, count=batch):
        names.append(name)
        if len(names) >= batch:
            await client.unlink(*names)
            names.clear()
    if names:
        await client.unlink(*names)


def reraise_cancellation() -> None:
    """Raise CancelledError if this task was asked to stop.

    Called where a Redis failure is handled (and counts it, see `counted_redis`): when a cancellation lands while a timeout
    expires, asyncio (3.11) and redis-py may turn it into a TimeoutError, and code that
    treats timeouts as "Redis is down, carry on" would outlive its own cancellation.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    _count_handled_failure()


def _count_handled_failure() -> None:
    """Count the failure being handled (`switchboard_redis_errors_total`) unless the
    client counted it already: a caller's own deadline expiring, a pub/sub failure."""
    failure = sys.exc_info()[1]
    if failure is not None:
        count_failure(failure)


async def cancel_until_done(task: asyncio.Task | None, *, every_s: float = 0.5) -> None:
    """Cancel a background task that talks to Redis and wait until it has ended.

    A cancellation can still be lost where `reraise_cancellation` cannot see it (asyncio
    taking it for an expiring timeout): the task is cancelled again, every `every_s`,
    rather than waited on for ever. What it ended with is not looked at."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)


def unavailable(where: str, exc: BaseException) -> DependencyUnavailable:
    return DependencyUnavailable(f"Redis at {where} is unavailable: {type(exc).__name__}: {exc}")
