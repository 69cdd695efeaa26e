"""The two-level cache: shared through Redis, invalidated everywhere, and never held up by Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from switchboard_core.shared.bus import InProcessBus
from switchboard_core.shared.cache import TwoLevelCache
from switchboard_core.shared.local_lru import LocalLru
from switchboard_core.shared.redis_client import namespaced
from switchboard_testing.redis_server import RedisServer

OP_TIMEOUT_S = 0.25
NAMESPACE = "proxy:catalog"


class Loader:
    """A loader standing for the owning service: counts its calls, answers `value`."""

    def __init__(self, value: bytes) -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        return self.value


async def never_called() -> bytes:
    raise AssertionError("the loader was called although a cache level had the value")


@pytest.fixture
async def two_caches(replicas) -> AsyncIterator[tuple[TwoLevelCache, TwoLevelCache]]:
    """The caches of two replicas: each with its own Redis client and bus."""
    caches = [
        TwoLevelCache(
            NAMESPACE,
            bus=await replicas.bus(),
            redis=replicas.client(),
            op_timeout_s=OP_TIMEOUT_S,
            cooldown_s=0.2,
        )
        for _ in range(2)
    ]
    for cache in caches:
        await cache.start()
    yield caches[0], caches[1]
    for cache in caches:
        await cache.close()


async def test_a_value_one_replica_loaded_is_a_redis_hit_for_the_other_then_a_local_hit(two_caches):
    one, other = two_caches
    assert await one.get_or_load("server-1", Loader(b"catalog v1")) == b"catalog v1"
    assert await other.get_or_load("server-1", never_called) == b"catalog v1"
    assert await other.get_or_load("server-1", never_called) == b"catalog v1"
    assert (one.loads, other.loads, other.redis_hits, other.local_hits) == (1, 0, 1, 1)


async def test_concurrent_misses_for_one_key_load_it_once(two_caches):
    one, _ = two_caches
    loading, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow() -> bytes:
        nonlocal calls
        calls += 1
        loading.set()
        await release.wait()
        return b"catalog"

    waiting = [asyncio.create_task(one.get_or_load("server-1", slow)) for _ in range(10)]
    await loading.wait()
    release.set()
    assert await asyncio.gather(*waiting) == [b"catalog"] * 10
    assert calls == 1


async def test_an_invalidation_on_one_replica_reaches_the_other_within_a_second(
    two_caches, replicas, eventually
):
    one, other = two_caches
    await one.get_or_load("server-1", Loader(b"v1"))
    await other.get_or_load("server-1", Loader(b"v1"))
    assert await one.invalidate("server-1")
    assert await replicas.client().get(namespaced(NAMESPACE, "server-1")) is None
    fresh = Loader(b"v2")

    async def other_sees_v2() -> bool:
        return await other.get_or_load("server-1", fresh) == b"v2"

    await eventually(other_sees_v2, within_s=1, what="the other replica dropping its copy")


async def test_invalidating_a_prefix_drops_those_keys_only_everywhere(two_caches, eventually):
    one, other = two_caches
    for key in ("user:1:servers", "user:1:tools", "user:2:servers"):
        await one.get_or_load(key, Loader(b"old"))
        await other.get_or_load(key, Loader(b"old"))
    assert await one.invalidate_all("user:1:")
    fresh = Loader(b"new")

    async def other_reloads() -> bool:
        return await other.get_or_load("user:1:tools", fresh) == b"new"

    await eventually(other_reloads, within_s=1, what="the other replica dropping the prefix")
    assert await other.get_or_load("user:1:servers", fresh) == b"new"
    assert await other.get_or_load("user:2:servers", never_called) == b"old"


async def test_a_load_that_raced_an_invalidation_is_answered_but_not_kept(two_caches):
    one, _ = two_caches
    loading, release = asyncio.Event(), asyncio.Event()

    async def stale() -> bytes:
        loading.set()
        await release.wait()
        return b"read before the change"

    pending = asyncio.create_task(one.get_or_load("server-1", stale))
    await loading.wait()
    await one.invalidate("server-1")
    release.set()
    assert await pending == b"read before the change"
    assert await one.get_or_load("server-1", Loader(b"after")) == b"after"


async def test_with_redis_down_the_loader_answers_at_once_and_redis_serves_again_when_back(
    two_caches, redis_server: RedisServer, eventually
):
    one, other = two_caches
    await one.get_or_load("kept", Loader(b"before"))
    await asyncio.to_thread(redis_server.stop)
    started = time.monotonic()
    assert await one.get_or_load("server-1", Loader(b"direct")) == b"direct"
    assert time.monotonic() - started < OP_TIMEOUT_S
    assert one.redis_errors >= 1
    # Invalidating still works locally; it says the other replicas may not have heard.
    assert not await one.invalidate("server-1")

    await asyncio.to_thread(redis_server.start_again)

    # Without a restart of anything: a load on one replica is again a Redis hit on the other.
    async def shared_again() -> bool:
        key = f"after-{time.monotonic()}"
        await one.get_or_load(key, Loader(b"shared"))
        hits = other.redis_hits
        await other.get_or_load(key, Loader(b"shared"))
        return other.redis_hits == hits + 1

    await eventually(shared_again, within_s=5, what="Redis shared again")

    # The bus resyncs on reconnecting: what the replicas held before the outage is dropped
    # (invalidations sent meanwhile were lost).
    async def kept_reloaded() -> bool:
        return await one.get_or_load("kept", Loader(b"reloaded")) == b"reloaded"

    await eventually(kept_reloaded, within_s=5, what="the resync")


async def test_with_redis_silent_the_loader_answers_within_the_operation_deadline(
    two_caches, redis_server: RedisServer
):
    one, _ = two_caches
    redis_server.freeze()
    try:
        started = time.monotonic()
        assert await one.get_or_load("server-1", Loader(b"direct")) == b"direct"
        first = time.monotonic() - started
        started = time.monotonic()
        assert await one.get_or_load("server-2", Loader(b"direct")) == b"direct"
        second = time.monotonic() - started
    finally:
        redis_server.thaw()
    assert first < OP_TIMEOUT_S + 0.15
    # After a failure Redis is left alone for a while: the next miss does not wait for it.
    assert second < 0.05


async def test_embedded_caches_share_invalidations_through_the_in_process_bus(eventually):
    bus = InProcessBus()
    one, other = TwoLevelCache(NAMESPACE, bus=bus), TwoLevelCache(NAMESPACE, bus=bus)
    async with one, other:
        await one.get_or_load("server-1", Loader(b"v1"))
        await other.get_or_load("server-1", Loader(b"v1"))
        assert await one.invalidate("server-1")
        fresh = Loader(b"v2")

        async def other_sees_v2() -> bool:
            return await other.get_or_load("server-1", fresh) == b"v2"

        await eventually(other_sees_v2, within_s=1, what="the other cache dropping its copy")
        assert (other.loads, other.redis_hits, other.redis_errors) == (2, 0, 0)


def test_the_local_level_is_bounded_and_expires_entries():
    now = [0.0]
    lru = LocalLru(max_entries=2, ttl_s=10, clock=lambda: now[0])
    lru.put("a", b"1")
    lru.put("b", b"2")
    assert lru.get("a") == b"1"  # a is now the most recently used
    lru.put("c", b"3")
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (b"1", None, b"3")
    now[0] = 10.0
    assert lru.get("a") is None
    assert len(lru) == 1
