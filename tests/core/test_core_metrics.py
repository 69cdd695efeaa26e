"""The metrics libs/core keeps beside the HTTP and gRPC ones: a database pool's
connections and waits, Redis failures by kind, leases held, rate-limit refusals, and
readiness with each dependency; each moves when what it shows happens, and only then."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import redis.exceptions
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from switchboard_core.db import create_engine
from switchboard_core.db_pool import MeteredPool, watch
from switchboard_core.dependency_probes import DatabaseProbe
from switchboard_core.errors import RateLimited
from switchboard_core.rate_limits import Rate, RateLimiter
from switchboard_core.readiness import Need, Readiness
from switchboard_core.shared.counted_redis import CountedRedis
from switchboard_core.shared.leader import AlwaysLeader, RedisLeadership
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import eventually_async
from switchboard_testing.redis_server import RedisServer


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_checkout_that_waits_for_a_connection_is_counted_and_timed(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", poolclass=MeteredPool, pool_size=1, max_overflow=0
    )
    watch(engine, "pooltest")
    waits = value("switchboard_db_pool_waits_total", service="pooltest")
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            assert value("switchboard_db_pool_connections", service="pooltest", state="in_use") == 1
            assert value("switchboard_db_pool_connections", service="pooltest", state="idle") == 0
            assert value("switchboard_db_pool_waits_total", service="pooltest") == waits

            async def second() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))

            waiting = asyncio.create_task(second())
            # Released only once the second checkout waits on the empty pool (SQLAlchemy's
            # asyncio queue lists it among its getters): that wait is what is measured.
            queue = engine.sync_engine.pool._pool._queue
            await eventually_async(lambda: len(queue._getters) == 1, within_s=5, what="a waiting checkout")
            await held.rollback()
        await asyncio.wait_for(waiting, 5)
        assert value("switchboard_db_pool_waits_total", service="pooltest") == waits + 1
        assert value("switchboard_db_pool_wait_seconds_count", service="pooltest") >= 1
        assert value("switchboard_db_pool_connections", service="pooltest", state="in_use") == 0
        assert value("switchboard_db_pool_connections", service="pooltest", state="idle") == 1
    finally:
        await engine.dispose()


async def test_a_services_engine_is_watched_under_its_name(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'catalogue.db'}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            assert value("switchboard_db_pool_connections", service="catalogue", state="in_use") == 1
    finally:
        await engine.dispose()


async def test_redis_failures_are_counted_by_kind(redis_server: RedisServer) -> None:
    refused_before = value("switchboard_redis_errors_total", kind="connection")
    server_before = value("switchboard_redis_errors_total", kind="server")
    client = CountedRedis.from_url(redis_server.url)
    nobody = CountedRedis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=None)
    try:
        assert await client.set("k", "v")
        with pytest.raises(redis.exceptions.ResponseError):
            await client.incr("k")  # not an integer: Redis answers an error
        with pytest.raises(redis.exceptions.ResponseError):
            pipe = client.pipeline()
            pipe.incr("k")
            await pipe.execute()
        with pytest.raises(redis.exceptions.ConnectionError):
            await nobody.get("k")
    finally:
        await client.aclose()
        await nobody.aclose()
    assert value("switchboard_redis_errors_total", kind="server") == server_before + 2
    assert value("switchboard_redis_errors_total", kind="connection") == refused_before + 1


async def test_a_redis_that_never_answers_is_counted_as_timeouts_where_the_caller_gives_up(
    redis_server: RedisServer,
) -> None:
    client = CountedRedis.from_url(redis_server.url)
    limiter = RateLimiter(per_token=Rate(100, 60), redis=client, sync_timeout_s=0.3)
    before = value("switchboard_redis_errors_total", kind="timeout")
    try:
        limiter.check(Caller("u1", "t1"))
        await limiter.sync()
        assert value("switchboard_redis_errors_total", kind="timeout") == before
        redis_server.freeze()
        try:
            limiter.check(Caller("u1", "t1"))
            await limiter.sync()  # gives up after its 0.3 s deadline, and carries on
        finally:
            redis_server.thaw()
    finally:
        await client.aclose()
    assert value("switchboard_redis_errors_total", kind="timeout") == before + 1


async def test_the_leader_gauge_follows_an_embedded_lease() -> None:
    leadership = AlwaysLeader("embedded-test")
    running = asyncio.Event()

    async def job() -> None:
        running.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(leadership.run_while_leader("health", job))
    await asyncio.wait_for(running.wait(), 5)
    assert value("switchboard_leader_held", service="embedded-test", lease="health") == 1
    task.cancel()
    await asyncio.wait({task})
    assert value("switchboard_leader_held", service="embedded-test", lease="health") == 0


async def test_the_leader_gauge_follows_a_redis_lease(redis_server: RedisServer) -> None:
    client = CountedRedis.from_url(redis_server.url)
    leadership = RedisLeadership(client, "registry-test", ttl_s=1.5)
    task = asyncio.create_task(leadership.run_while_leader("health", asyncio.Event().wait))
    try:
        await eventually_async(
            lambda: value("switchboard_leader_held", service="registry-test", lease="health") == 1,
            within_s=5,
            what="the lease held",
        )
    finally:
        task.cancel()
        await asyncio.wait({task})
        await client.aclose()
    assert value("switchboard_leader_held", service="registry-test", lease="health") == 0


class Caller:
    def __init__(self, user_id: str, token_id: str) -> None:
        self.user_id, self.token_id = user_id, token_id


def test_a_rate_limit_refusal_is_counted_under_the_limit_that_refused() -> None:
    limiter = RateLimiter(per_token=Rate(2, 60), per_user=Rate(100, 60), clock=lambda: 6000.0)
    before = value("switchboard_rate_limit_refusals_total", limit="token")
    user_before = value("switchboard_rate_limit_refusals_total", limit="user")
    caller = Caller("u1", "t1")
    limiter.check(caller)
    limiter.check(caller)
    assert value("switchboard_rate_limit_refusals_total", limit="token") == before
    with pytest.raises(RateLimited):
        limiter.check(caller)
    assert value("switchboard_rate_limit_refusals_total", limit="token") == before + 1
    assert value("switchboard_rate_limit_refusals_total", limit="user") == user_before


async def test_readiness_and_each_dependency_are_shown_as_gauges(tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.close()
    readiness = Readiness(
        ["registry", "mcp-proxy"],
        [Need("registry", DatabaseProbe(f"sqlite+aiosqlite:///{database}"))],
        interval_s=60,
        timeout_s=1,
    )
    await readiness.check_now()
    assert value("switchboard_ready") == 1
    assert value("switchboard_dependency_up", dependency="registry database") == 1
    intact = database.read_bytes()
    database.write_bytes(b"this is not a database" * 400)
    await readiness.check_now()
    assert value("switchboard_ready") == 0
    assert value("switchboard_dependency_up", dependency="registry database") == 0
    database.write_bytes(intact)
    await readiness.check_now()
    assert value("switchboard_ready") == 1
    await readiness.stop()
    assert value("switchboard_ready") == 0
