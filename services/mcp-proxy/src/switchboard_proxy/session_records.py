"""Where a session is known beyond the replica that opened it.

Embedded, the proxy process is the only one: `LocalRecords` keeps nothing more than
the in-process store does. With Redis, `RedisRecords` writes each session's identity
(owner, server path, protocol version, client info and capabilities) under
`switchboard:proxy:session:<id>` with the idle TTL, so any replica can serve its next
request: a replica that has not seen the session reads the record once and keeps it.
Nothing there is the only copy of anything but the session itself; losing Redis ends
sessions (their clients get the spec's 404 and initialize again).

Each user's open sessions are counted in the sorted set `switchboard:proxy:user:<id>:sessions`
(member: session id, score: when its record expires, ms since the epoch), kept by the
same operations as the records: a session is opened only if fewer than the limit of
the user's entries are still unexpired (checked and added in one script), refreshed
with its record, and removed when it is deleted; an entry past its score no longer
counts (a session that expired, or a replica that died holding it).

Beside each record may live the session's upstream sessions (`upstream_records`), under
`...:session:<id>:upstreams`: refreshed with the record, they outlive it by
`UPSTREAMS_GRACE_S`, so whoever ends an expired session still finds what to end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from typing import Protocol

import orjson
from redis.asyncio import Redis
from switchboard_core.errors import RateLimited
from switchboard_core.shared.redis_client import REDIS_DOWN, namespaced, reraise_cancellation, unavailable

# A Redis operation on the request path gives up after this: a request never waits on a
# Redis that went away (the record is then taken as missing).
OP_TIMEOUT_S = 0.25
UPSTREAMS_GRACE_S = 120.0

# KEYS: the record, the user's sessions; ARGV: record, ttl ms, now ms, limit, session id.
# Returns 0 when saved, else the ms until the user's soonest-expiring session expires.
_OPEN = """
redis.call('zremrangebyscore', KEYS[2], '-inf', ARGV[3])
if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[4]) then
  local soonest = redis.call('zrange', KEYS[2], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(soonest[2]) - tonumber(ARGV[3]))
end
redis.call('zadd', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), ARGV[5])
redis.call('pexpire', KEYS[2], ARGV[2])
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
"""


def record_key(session_id: str) -> str:
    return namespaced("proxy", "session", session_id)


def upstreams_key(session_id: str) -> str:
    return namespaced("proxy", "session", session_id, "upstreams")


def user_sessions_key(user_id: str) -> str:
    return namespaced("proxy", "user", user_id, "sessions")


class SessionRecords(Protocol):
    async def save(self, session_id: str, record: dict, ttl_s: float, per_user: int) -> None:
        """Store a new session's record unless its user (`record["user_id"]`) holds
        `per_user` sessions already (RateLimited); DependencyUnavailable when it cannot."""

    async def load(self, session_id: str) -> dict | None:
        """The record, or None when there is none (or it cannot be read now)."""

    async def forget(self, session_id: str, user_id: str) -> None: ...

    async def refresh(self, sessions: Iterable[tuple[str, str]], ttl_s: float) -> None:
        """Push back the expiry of sessions in use here (session id, user id)."""


class LocalRecords:
    """Embedded: the in-process store is the whole truth."""

    async def save(self, session_id: str, record: dict, ttl_s: float, per_user: int) -> None:
        return None  # the store counts its users' sessions itself

    async def load(self, session_id: str) -> dict | None:
        return None

    async def forget(self, session_id: str, user_id: str) -> None:
        return None

    async def refresh(self, sessions: Iterable[tuple[str, str]], ttl_s: float) -> None:
        return None


class RedisRecords:
    def __init__(self, client: Redis, *, where: str = "redis") -> None:
        self._client = client
        self._where = where
        self.loads = 0
        self.errors = 0
        self._open = client.register_script(_OPEN)

    async def save(self, session_id: str, record: dict, ttl_s: float, per_user: int) -> None:
        keys = [record_key(session_id), user_sessions_key(record["user_id"])]
        args = [orjson.dumps(record), int(ttl_s * 1000), _now_ms(), per_user, session_id]
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                wait_ms = await self._open(keys=keys, args=args)
        except REDIS_DOWN as exc:
            reraise_cancellation()
            self.errors += 1
            raise unavailable(self._where, exc) from exc
        if wait_ms:
            raise too_many(per_user, int(wait_ms) / 1000)

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

    async def forget(self, session_id: str, user_id: str) -> None:
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.unlink(record_key(session_id))
                    if user_id:
                        pipe.zrem(user_sessions_key(user_id), session_id)
                    await pipe.execute()
        except REDIS_DOWN:
            reraise_cancellation()
            self.errors += 1  # it expires by itself

    async def refresh(self, sessions: Iterable[tuple[str, str]], ttl_s: float) -> None:
        sessions = list(sessions)
        if not sessions:
            return
        ttl_ms = int(ttl_s * 1000)
        expires_ms = _now_ms() + ttl_ms
        try:
            async with asyncio.timeout(max(OP_TIMEOUT_S, 0.002 * len(sessions))):
                async with self._client.pipeline(transaction=False) as pipe:
                    for session_id, user_id in sessions:
                        pipe.pexpire(record_key(session_id), ttl_ms)
                        pipe.pexpire(upstreams_key(session_id), int((ttl_s + UPSTREAMS_GRACE_S) * 1000))
                        # XX: a session deleted meanwhile is not counted again.
                        pipe.zadd(user_sessions_key(user_id), {session_id: expires_ms}, xx=True)
                        pipe.pexpire(user_sessions_key(user_id), ttl_ms)
                    await pipe.execute()
        except REDIS_DOWN:
            reraise_cancellation()
            self.errors += 1


def too_many(limit: int, retry_after_s: float) -> RateLimited:
    """The refusal of a user's session past `limit`, retried when their soonest expires."""
    return RateLimited(
        f"too many open sessions: a user may hold {limit}; end one (DELETE) or wait for one to expire",
        retry_after_s=max(1, math.ceil(retry_after_s)),
    )


def _now_ms() -> int:
    # Wall-clock time: replicas compare each other's expiries (skew only shifts them).
    return int(time.time() * 1000)
