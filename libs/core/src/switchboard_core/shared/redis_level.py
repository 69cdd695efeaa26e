"""The shared level of a cache: values in Redis that every replica can read.

A value one replica loaded from its owner (over gRPC) is a Redis hit for the others,
so a new or restarted replica does not send every miss to the owning service.

Redis is an optimisation here, never a dependency: each command has a short deadline,
and after a failure Redis is left alone for a cooldown, so a miss while it is down or
hung costs at most one deadline before the caller asks the owner. Embedded, there is
no shared level at all.

A deletion that could not be carried out (Redis down or hung when a revocation or a
change arrived) is not forgotten: it is tried again in the background until Redis
takes it, and until then nothing is read from Redis, since what Redis holds may be
the very value the deletion was for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from switchboard_core.counters import COUNTERS
from switchboard_core.shared.redis_client import (
    REDIS_FAILED,
    cancel_until_done,
    namespaced,
    reraise_cancellation,
    unlink_prefixed,
)

logger = logging.getLogger(__name__)

_FAILED = object()


class RedisLevel:
    def __init__(
        self,
        namespace: str,
        redis: Redis,
        *,
        ttl_s: float = 300.0,
        op_timeout_s: float = 0.25,
        bulk_timeout_s: float = 2.0,
        cooldown_s: float = 1.0,
        counter: str = "",
    ) -> None:
        self.namespace = namespace
        self._hits_counter = f"cache.{counter or namespace}.shared_hits"
        self._redis = redis
        self._ttl_ms = int(ttl_s * 1000)
        self._op_timeout_s = op_timeout_s
        self._bulk_timeout_s = bulk_timeout_s
        self._cooldown_s = cooldown_s
        self._resting_until = 0.0
        # Deletions Redis has not taken yet: (prefix?, key or prefix).
        self._undeleted: dict[tuple[bool, str], None] = {}
        self._repair: asyncio.Task[None] | None = None
        self.hits = self.errors = 0

    @property
    def trusted(self) -> bool:
        """False while a deletion is owed: what Redis holds may be what it was for."""
        return not self._undeleted

    async def get(self, key: str) -> bytes | None:
        if not self.trusted:
            return None
        value = await self._try(
            lambda r: r.get(namespaced(self.namespace, key)), self._op_timeout_s, rest=True
        )
        if isinstance(value, bytes):
            self.hits += 1
            COUNTERS.add(self._hits_counter)
            return value
        return None

    async def put(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        ttl_ms = self._ttl_ms if ttl_s is None else min(self._ttl_ms, int(ttl_s * 1000))
        if ttl_ms <= 0 or not self.trusted:
            return
        stored = namespaced(self.namespace, key)
        await self._try(lambda r: r.set(stored, value, px=ttl_ms), self._op_timeout_s, rest=True)

    async def delete(self, key: str) -> bool:
        """Delete `key`; False when Redis did not take it now (it is tried again until it does)."""
        return await self._delete(False, key)

    async def delete_prefix(self, prefix: str) -> bool:
        """Delete every key starting with `prefix` (like `delete`)."""
        return await self._delete(True, prefix)

    async def close(self) -> None:
        await cancel_until_done(self._repair)

    async def _delete(self, prefix: bool, name: str) -> bool:
        if await self._carry_out(prefix, name):
            return True
        self._undeleted[(prefix, name)] = None
        if self._repair is None or self._repair.done():
            self._repair = asyncio.create_task(
                self._repair_deletions(), name=f"cache {self.namespace} repair"
            )
        return False

    async def _carry_out(self, prefix: bool, name: str) -> bool:
        full = namespaced(self.namespace, name)
        if prefix:
            done = await self._try(lambda r: unlink_prefixed(r, full), self._bulk_timeout_s)
        else:
            done = await self._try(lambda r: r.unlink(full), self._op_timeout_s)
        return done is not _FAILED

    async def _repair_deletions(self) -> None:
        while self._undeleted:
            await asyncio.sleep(self._cooldown_s)
            for prefix, name in list(self._undeleted):
                if not await self._carry_out(prefix, name):
                    break
                self._undeleted.pop((prefix, name), None)
        logger.info("cache %s: deletions owed to Redis carried out; reading Redis again", self.namespace)

    async def _try(
        self, command: Callable[[Redis], Awaitable[Any]], timeout_s: float, *, rest: bool = False
    ) -> Any:
        """The command's answer, or `_FAILED`. `rest`: skip it (`None`) while Redis rests
        after a failure (reads and fills may; deletions always try)."""
        loop = asyncio.get_running_loop()
        if rest and loop.time() < self._resting_until:
            return None
        try:
            async with asyncio.timeout(timeout_s):
                return await command(self._redis)
        except REDIS_FAILED as exc:
            reraise_cancellation()
            self.errors += 1
            if loop.time() >= self._resting_until:
                logger.warning("cache %s: Redis failed (%s); asking the owner directly", self.namespace, exc)
            self._resting_until = loop.time() + self._cooldown_s
            return _FAILED
