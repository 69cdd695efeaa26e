"""The shared level of a cache: a deletion Redis missed is owed, and nothing is read from
Redis until it is carried out (what Redis holds may be the value it was for)."""

from __future__ import annotations

import time

from switchboard_core.shared.redis_client import namespaced
from switchboard_core.shared.redis_level import RedisLevel
from switchboard_testing.redis_server import RedisServer

NAMESPACE = "proxy:principals"
OP_TIMEOUT_S = 0.25


async def test_a_value_put_by_one_replica_is_read_by_another_until_deleted(replicas):
    one, other = (RedisLevel(NAMESPACE, replicas.client(), op_timeout_s=OP_TIMEOUT_S) for _ in range(2))
    await one.put("u:1:t:a:digest", b"principal")
    assert await other.get("u:1:t:a:digest") == b"principal"
    assert await other.delete_prefix("u:1:t:a:")
    assert await one.get("u:1:t:a:digest") is None
    assert other.hits == 1


async def test_a_put_never_outlives_the_ttl_it_was_given(replicas):
    level = RedisLevel(NAMESPACE, replicas.client(), ttl_s=300)
    await level.put("short", b"v", ttl_s=0.2)
    await level.put("already-expired", b"v", ttl_s=-1)
    client = replicas.client()
    assert 0 < await client.pttl(namespaced(NAMESPACE, "short")) <= 200
    assert await client.exists(namespaced(NAMESPACE, "already-expired")) == 0


async def test_a_deletion_redis_missed_is_owed_and_nothing_is_read_until_it_lands(
    replicas, redis_server: RedisServer, eventually
):
    level = RedisLevel(NAMESPACE, replicas.client(), op_timeout_s=OP_TIMEOUT_S, cooldown_s=1.0)
    observer = replicas.client()
    stored = namespaced(NAMESPACE, "u:1:t:revoked:digest")
    await level.put("u:1:t:revoked:digest", b"stale principal")

    redis_server.freeze()
    try:
        started = time.monotonic()
        assert not await level.delete_prefix("u:1:t:revoked:")
        assert time.monotonic() - started < 2.5  # the bulk deadline, not a hang
    finally:
        redis_server.thaw()

    # Redis answers again and still holds the value, yet it is not served.
    assert not level.trusted
    assert await observer.get(stored) == b"stale principal"
    assert await level.get("u:1:t:revoked:digest") is None
    await level.put("u:1:t:other:digest", b"not written while a deletion is owed")
    await eventually(lambda: level.trusted, within_s=3, what="the owed deletion")
    assert await observer.exists(stored) == 0
    assert await observer.exists(namespaced(NAMESPACE, "u:1:t:other:digest")) == 0
    await level.put("u:1:t:other:digest", b"fresh")
    assert await level.get("u:1:t:other:digest") == b"fresh"
    await level.close()


async def test_with_redis_silent_a_read_costs_one_deadline_then_none_while_it_rests(
    replicas, redis_server: RedisServer
):
    level = RedisLevel(NAMESPACE, replicas.client(), op_timeout_s=OP_TIMEOUT_S, cooldown_s=1.0)
    redis_server.freeze()
    try:
        started = time.monotonic()
        assert await level.get("a") is None
        first = time.monotonic() - started
        started = time.monotonic()
        assert await level.get("b") is None
        second = time.monotonic() - started
    finally:
        redis_server.thaw()
    assert first < OP_TIMEOUT_S + 0.15
    assert second < 0.05
    assert level.errors == 1
