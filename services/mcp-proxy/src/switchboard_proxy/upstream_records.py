"""Where a client session's own upstream sessions are known beyond the replica that
opened them (distributed mode; embedded, the one process knows them all).

A client answering upstream requests has one session with each upstream it uses,
whichever replica serves it. Its upstream sessions are a hash beside its session
record (`session_records.upstreams_key`), one field per upstream URL:

- `{"by": <replica>}`: claimed (`HSETNX`) by the replica initializing it now;
- `{"by": …, "session_id": …, "protocol_version": …, "capabilities": …,
  "server_info": …}`: open; any replica adopts it (no second initialize);
- `{"by": …, "unshared": true}`: the upstream keeps no session to share (legacy
  HTTP+SSE, or no `Mcp-Session-Id`): each replica has its own.

Ending the client session takes the hash whole (`HGETALL` + `UNLINK` in one
transaction), so of the replicas that might end it (the one the DELETE reached, the
ones noticing the record expired) exactly one gets what to end.

One replica follows an upstream session's GET stream: the one holding the lease
`...:session:<id>:follow:<digest of url>` (`SET NX PX`, renewed while it follows,
compare-and-delete when it stops). A replica that dies stops renewing; another
takes the lease on its next use of the session.

Every operation gives up after `OP_TIMEOUT_S` and raises `DependencyUnavailable`:
callers fall back to an upstream session of their own rather than wait on Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from typing import Any

import orjson
from redis.asyncio import Redis
from switchboard_core.shared.redis_client import (
    REDIS_FAILED,
    namespaced,
    reraise_cancellation,
    unavailable,
)

from switchboard_proxy.session_records import OP_TIMEOUT_S, UPSTREAMS_GRACE_S, record_key, upstreams_key

_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _follow_key(session_id: str, url: str) -> str:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return namespaced("proxy", "session", session_id, "follow", digest)


class UpstreamRecords:
    def __init__(self, client: Redis, *, replica: str, session_ttl_s: float, where: str = "redis") -> None:
        self._client = client
        self.replica = replica
        self._ttl_ms = int((session_ttl_s + UPSTREAMS_GRACE_S) * 1000)
        self._where = where
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    async def load(self, session_id: str, url: str) -> dict | None:
        raw = await self._run(self._client.hget(upstreams_key(session_id), url))
        return orjson.loads(raw) if raw else None

    async def claim(self, session_id: str, url: str) -> bool:
        """Whether this replica is the one to initialize the session with `url`."""
        key = upstreams_key(session_id)
        claim = orjson.dumps({"by": self.replica})

        async def both() -> list:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hsetnx(key, url, claim)
                pipe.pexpire(key, self._ttl_ms)
                return await pipe.execute()

        won, _ = await self._run(both())
        return bool(won)

    async def store(self, session_id: str, url: str, state: dict) -> None:
        """Record the upstream session opened here (or that there is none to share)."""
        record = orjson.dumps({**state, "by": self.replica})
        await self._run(self._client.hset(upstreams_key(session_id), url, record))

    async def unclaim(self, session_id: str, url: str) -> None:
        """Initializing failed: let the next use claim it again."""
        await self._run(self._client.hdel(upstreams_key(session_id), url))

    async def take(self, session_id: str) -> dict[str, dict]:
        """Every upstream session of the client session, removed: to end them."""
        key = upstreams_key(session_id)

        async def both() -> list:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hgetall(key)
                pipe.unlink(key)
                return await pipe.execute()

        fields, _ = await self._run(both())
        return {_text(url): orjson.loads(raw) for url, raw in fields.items()}

    async def session_expires_in(self, session_id: str) -> float | None:
        """Seconds the client session's record has left; None once it is gone."""
        left_ms = await self._run(self._client.pttl(record_key(session_id)))
        return None if left_ms < 0 else left_ms / 1000

    async def lead(self, session_id: str, url: str, lease_s: float) -> bool:
        """Take the lease to follow the upstream session's GET stream, if nobody holds it."""
        key = _follow_key(session_id, url)
        return bool(await self._run(self._client.set(key, self.replica, nx=True, px=int(lease_s * 1000))))

    async def keep_lead(self, session_id: str, url: str, lease_s: float) -> bool:
        key = _follow_key(session_id, url)
        return bool(await self._run(self._extend(keys=[key], args=[self.replica, int(lease_s * 1000)])))

    async def resign(self, session_id: str, url: str) -> None:
        await self._run(self._release(keys=[_follow_key(session_id, url)], args=[self.replica]))

    async def _run(self, command: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                return await command
        except REDIS_FAILED as exc:
            reraise_cancellation()
            raise unavailable(self._where, exc) from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
