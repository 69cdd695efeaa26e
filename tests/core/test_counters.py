"""The counters that show what a process sends elsewhere: SQL statements, gRPC calls,
Redis round trips, each counted where it leaves; served at `/internal/counters` to
loopback peers only."""

from __future__ import annotations

from pathlib import Path

import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from switchboard_core.counters import COUNTERS
from switchboard_core.db import create_engine
from switchboard_core.grpc import Channels, build_server
from switchboard_core.http.app import create_app
from switchboard_core.shared.bus import Bus
from switchboard_core.shared.redis_bus import RedisBus
from switchboard_core.shared.redis_client import RedisConfig, make_client
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.redis_server import RedisServer

HEALTH_CHECK = "/grpc.health.v1.Health/Check"


async def test_every_statement_an_engine_runs_is_counted(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'counted.db'}")
    try:
        before = COUNTERS.get("sql.queries")
        async with engine.connect() as connection:
            for _ in range(3):
                await connection.execute(text("SELECT 1"))
        assert COUNTERS.get("sql.queries") - before == 3
    finally:
        await engine.dispose()


async def test_every_outgoing_grpc_call_is_counted_by_method() -> None:
    server, _health = build_server(INTERNAL_TOKEN)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = Channels(INTERNAL_TOKEN)
    try:
        stub = health_pb2_grpc.HealthStub(channels.get(f"127.0.0.1:{port}"))
        before = COUNTERS.snapshot()
        for _ in range(2):
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        after = COUNTERS.snapshot()
    finally:
        await channels.close()
        await server.stop(None)
    assert after["grpc.calls"] - before.get("grpc.calls", 0) == 2
    assert after[f"grpc.calls.{HEALTH_CHECK}"] - before.get(f"grpc.calls.{HEALTH_CHECK}", 0) == 2


async def test_redis_commands_count_once_each_and_a_pipeline_once_but_the_bus_link_not_at_all(
    redis_server: RedisServer,
) -> None:
    config = RedisConfig(url=redis_server.url)
    client = make_client(config)
    bus: Bus = RedisBus(make_client(config), config)
    try:
        await bus.start()  # the pub/sub link: subscriptions and PINGs of its own
        before = COUNTERS.get("redis.commands")
        await client.set("switchboard:test:counted", b"1")
        await client.get("switchboard:test:counted")
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(5):
                pipe.incr("switchboard:test:piped")
            await pipe.execute()
        await bus.subscribe("test:quiet")
        assert COUNTERS.get("redis.commands") - before == 3
    finally:
        await bus.close()
        await client.aclose()


async def test_the_counters_are_served_to_a_loopback_peer() -> None:
    COUNTERS.add("test.served")
    async with _client(("127.0.0.1", 50000)) as http:
        response = await http.get("/internal/counters")
    assert response.status_code == 200
    assert response.json()["counters"]["test.served"] >= 1


async def test_the_counters_are_refused_to_other_peers_and_to_requests_a_proxy_relayed() -> None:
    async with _client(("10.1.2.3", 50000)) as http:
        assert (await http.get("/internal/counters")).status_code == 403
    async with _client(("127.0.0.1", 50000)) as http:
        relayed = await http.get("/internal/counters", headers={"x-forwarded-for": "203.0.113.9"})
        assert relayed.status_code == 403


def _client(peer: tuple[str, int]) -> httpx.AsyncClient:
    app = create_app(title="counted", routers=[])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://app.test")
