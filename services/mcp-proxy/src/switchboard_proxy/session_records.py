"""Where a session is known beyond the replica that opened it.

Embedded, the proxy process is the only one: `LocalRecords` keeps nothing more than
the in-process store does. With Redis, `RedisRecords` writes each session's identity
(owner, server path, protocol version, client info and capabilities) under
`switchboard:proxy:session:<id>` with the idle TTL, so any replica can serve its next
request: a replica that has not seen the session reads the record once and keeps it.
Nothing there is the only copy of anything but the session itself; losing Redis ends
sessions (their clients get the spec's 404 and initialize again).

Beside each record may live the session's upstream sessions (`upstream_records`), under
`...:session:<id>:upstreams`: refreshed with the record, they outlive it by
`UPSTREAMS_GRACE_S`, so whoever ends an expired session still finds what to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

import orjson
from redis.asyncio import Redis
from switchboard_core.shared.redis_client import REDIS_DOWN, namespaced, reraise_cancellation, unavailable

# A Redis operation on the request path gives up after this: a request never waits on a
# Redis that went away (the record is then taken as missing).
OP_TIMEOUT_S = 0.25
UPSTREAMS_GRACE_S = 120.0


def record_key(session_id: str) -> str:
    return namespaced("proxy", "session", session_id)


def upstreams_key(session_id: str) -> str:
    return namespaced("proxy", "session", session_id, "upstreams")


class SessionRecords(Protocol):
    async def save(self, session_id: str, record: dict, ttl_s: float) -> None:
        """Store a new session's record; raises DependencyUnavailable when it cannot."""

    async def load(self, session_id: str) -> dict | None:
        """The record, or None when there is none (or it cannot be read now)."""

    async def forget(self, session_id: str) -> None: ...

    async def refresh(self, session_ids: Iterable[str], ttl_s: float) -> None:
        """Push back the expiry of sessions in use here."""


class LocalRecords:
    """Embedded: the in-process store is the whole truth."""

    async def save(self, session_id: str, record: dict, ttl_s: float) -> None:
        return None

    async def load(self, session_id: str) -> dict | None:
        return None

    async def forget(self, session_id: str) -> None:
        return None

    async def refresh(self, session_ids: Iterable[str], ttl_s: float) -> None:
        return None


class RedisRecords:
    def __init__(self, client: Redis, *, where: str = "redis") -> None:
        self._client = client
        self._where = where
        self.loads = 0
        self.errors = 0

    async def save(self, session_id: str, record: dict, ttl_s: float) -> None:
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                await self._client.set(record_key(session_id), orjson.dumps(record), px=int(ttl_s * 1000))
        except REDIS_DOWN as exc:
            reraise_cancellation()
            self.errors += 1
            raise unavailable(self._where, exc) from exc

    async def load(self, session_id: str) -> dict | None:
        self.loads += 1
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                raw = await self._client.get(record_key(session_id))
        except REDIS_DOWN:
            reraise_cancellation()
            self.errors += 1
            return None
        return orjson.loads(raw) if raw else None

    async def forget(self, session_id: str) -> None:
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                await self._client.unlink(record_key(session_id))
        except REDIS_DOWN:
            reraise_cancellation()
            self.errors += 1  # it expires by itself

    async def refresh(self, session_ids: Iterable[str], ttl_s: float) -> None:
        session_ids = list(session_ids)
        if not session_ids:
            return
        try:
            async with asyncio.timeout(max(OP_TIMEOUT_S, 0.002 * len(session_ids))):
                async with self._client.pipeline(transaction=False) as pipe:
                    for session_id in session_ids:
                        pipe.pexpire(record_key(session_id), int(ttl_s * 1000))
                        pipe.pexpire(upstreams_key(session_id), int((ttl_s + UPSTREAMS_GRACE_S) * 1000))
                    await pipe.execute()
        except REDIS_DOWN:
            reraise_cancellation()
            self.errors += 1
