"""A two-level cache for values another service owns (principals, catalogs).

Level one is this process's `LocalLru`: a hit costs no I/O, which is what keeps the
hot path free of network round trips. Level two is Redis, shared by the replicas, so
that a value loaded by one (over gRPC from its owner) is a Redis hit for the others.
`invalidate` deletes in Redis and announces it on the bus, so every replica drops its
local copy; a bus resync (messages were lost) drops every local entry. TTLs on both
levels bound the staleness should an announcement be lost anyway.

Redis is an optimisation here, never a dependency (`redis_level.RedisLevel`: short
deadlines, a cooldown after a failure, deletions Redis missed owed and repaid).
Embedded, there is no Redis (`redis=None`) and the bus is in-process.

A load that raced an invalidation is returned to its callers but not stored: the
value may predate the change. (Another replica may still write such a value to Redis
just before hearing of the change; the Redis TTL bounds that window.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from switchboard_core.errors import DependencyUnavailable
from switchboard_core.shared.bus import Bus, Subscription
from switchboard_core.shared.local_lru import LocalLru
from switchboard_core.shared.redis_level import RedisLevel

logger = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[bytes]]


class TwoLevelCache:
    def __init__(
        self,
        namespace: str,
        *,
        bus: Bus,
        redis: Redis | None = None,
        max_entries: int = 10_000,
        local_ttl_s: float = 60.0,
        redis_ttl_s: float = 300.0,
        op_timeout_s: float = 0.25,
        bulk_timeout_s: float = 2.0,
        cooldown_s: float = 1.0,
    ) -> None:
        self._namespace = namespace
        self._channel = f"{namespace}:invalidate"
        self._bus = bus
        self._shared = (
            None
            if redis is None
            else RedisLevel(
                namespace,
                redis,
                ttl_s=redis_ttl_s,
                op_timeout_s=op_timeout_s,
                bulk_timeout_s=bulk_timeout_s,
                cooldown_s=cooldown_s,
            )
        )
        self._local = LocalLru(max_entries=max_entries, ttl_s=local_ttl_s)
        self._epoch = 0  # bumped by every invalidation: loads that straddle one are not stored
        self._flights: dict[str, asyncio.Future[bytes]] = {}
        self._subscription: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None
        self.local_hits = self.loads = 0

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe(self._channel)
        self._listener = asyncio.create_task(
            self._listen(self._subscription), name=f"cache {self._namespace}"
        )

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._subscription is not None:
            await self._subscription.close()
        if self._shared is not None:
            await self._shared.close()

    @property
    def redis_hits(self) -> int:
        return 0 if self._shared is None else self._shared.hits

    @property
    def redis_errors(self) -> int:
        return 0 if self._shared is None else self._shared.errors

    async def __aenter__(self) -> TwoLevelCache:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def get_or_load(self, key: str, loader: Loader) -> bytes:
        """The cached value, else Redis's, else `loader()`'s (one load per key at a time)."""
        value = self._local.get(key)
        if value is not None:
            self.local_hits += 1
            return value
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fill(key, loader))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # Shielded: one caller giving up does not cancel the load the others wait for.
        return await asyncio.shield(flight)

    async def invalidate(self, key: str) -> bool:
        """Drop `key` everywhere; False when Redis could not be told (TTLs then bound staleness)."""
        self._forget(key)
        deleted = self._shared is None or await self._shared.delete(key)
        return await self._announce(b"key\0" + key.encode()) and deleted

    async def invalidate_all(self, prefix: str = "") -> bool:
        """Drop every key starting with `prefix` everywhere (like `invalidate`)."""
        self._forget_prefix(prefix)
        deleted = self._shared is None or await self._shared.delete_prefix(prefix)
        return await self._announce(b"prefix\0" + prefix.encode()) and deleted

    async def _fill(self, key: str, loader: Loader) -> bytes:
        epoch = self._epoch
        shared = self._shared
        value = None if shared is None else await shared.get(key)
        if value is None:
            self.loads += 1
            value = await loader()
            if epoch == self._epoch and shared is not None:
                await shared.put(key, value)
        if epoch == self._epoch:
            self._local.put(key, value)
        return value

    def _landed(self, key: str, flight: asyncio.Future[bytes]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here: every caller may have given up

    async def _announce(self, payload: bytes) -> bool:
        try:
            await self._bus.publish(self._channel, payload)
        except DependencyUnavailable as exc:
            logger.warning("cache %s: invalidation not announced (%s)", self._namespace, exc)
            return False
        return True

    async def _listen(self, subscription: Subscription) -> None:
        async for message in subscription:
            kind, _, name = message.payload.partition(b"\0")
            if message.resync:
                self._forget_prefix("")
            elif kind == b"key":
                self._forget(name.decode())
            elif kind == b"prefix":
                self._forget_prefix(name.decode())

    def _forget(self, key: str) -> None:
        self._local.drop(key)
        self._epoch += 1

    def _forget_prefix(self, prefix: str) -> None:
        self._local.drop_prefix(prefix)
        self._epoch += 1
