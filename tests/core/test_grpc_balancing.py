"""Internal gRPC clients spread their calls over every replica DNS names, find a replica
added later within the servers' maximum connection age, and keep their long streams
across the connection-age GOAWAYs (docs/internal-grpc.md).

Replicas here are gRPC servers of `build_server` in the test's process, each answering
which one it is; the client is the project's `Channels`; names resolve through a real
DNS server on loopback whose records the test changes, as a headless Service's do."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from switchboard_core.grpc import Channels, build_server
from switchboard_core.grpc.channels import Balancing
from switchboard_core.grpc.feeds import follow
from switchboard_core.grpc.server import ConnectionLimits
from switchboard_core.grpc.targets import channel_target
from switchboard_testing.dns_server import dns_server
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.ports import free_port

AGE_S = 1.0
# What the machine may add to a bound gRPC keeps: a reconnect, a loaded CI runner.
SLACK_S = 1.0
NAME = "registry.switchboard.test"
WHO = "/switchboard.test.Replica/Who"
PEER = "/switchboard.test.Replica/Peer"

Eventually = Callable[..., Awaitable[None]]


@pytest.mark.parametrize(
    ("configured", "dialled"),
    [
        ("registry:50051", "dns:///registry:50051"),
        ("127.0.0.1:4445", "dns:///127.0.0.1:4445"),
        ("[::1]:4445", "dns:///[::1]:4445"),
        ("dns:///auth:50051", "dns:///auth:50051"),
        ("dns://10.0.0.10:53/auth:50051", "dns://10.0.0.10:53/auth:50051"),
        ("ipv4:10.0.0.1:50051,10.0.0.2:50051", "ipv4:10.0.0.1:50051,10.0.0.2:50051"),
        ("ipv6:[::1]:50051", "ipv6:[::1]:50051"),
        ("unix:/run/switchboard/grpc.sock", "unix:/run/switchboard/grpc.sock"),
    ],
)
def test_a_bare_address_is_resolved_through_dns_and_a_named_resolver_is_kept(
    configured: str, dialled: str
) -> None:
    assert channel_target(configured) == dialled


def test_the_channel_resolves_again_and_retries_an_address_within_the_connection_age() -> None:
    short = dict(Balancing(connection_age_s=2).options())
    assert short["grpc.dns_min_time_between_resolutions_ms"] == 2000
    assert short["grpc.max_reconnect_backoff_ms"] == 2000
    # Long ages keep gRPC's own pacing: DNS is not asked more than every 30 s.
    default = dict(Balancing().options())
    assert default["grpc.dns_min_time_between_resolutions_ms"] == 30_000
    assert default["grpc.max_reconnect_backoff_ms"] == 120_000


async def test_calls_spread_over_every_replica_a_name_resolves_to(eventually: Eventually) -> None:
    async with dns_server({NAME: ["127.0.0.1", "::1"]}) as dns, _replicas() as start:
        await start("v4", "127.0.0.1")
        await start("v6", "[::1]")
        async with _client(dns.target(NAME, start.port)) as who:
            # The channel serves as soon as one connection is up; the other follows.
            await eventually(lambda: _answers(who, "v6"), within_s=5)
            answered = Counter([await who() for _ in range(40)])
    assert set(answered) == {"v4", "v6"}
    assert min(answered.values()) >= 10, answered


async def test_a_replica_dns_adds_later_gets_calls_within_the_connection_age(eventually: Eventually) -> None:
    async with dns_server({NAME: ["127.0.0.1"]}) as dns, _replicas() as start:
        await start("first", "127.0.0.1")
        await start("later", "[::1]")
        async with _client(dns.target(NAME, start.port)) as who:
            # Listening is not enough: a replica gets calls once the name gives its address.
            assert {await who() for _ in range(20)} == {"first"}
            dns.records[NAME].append("::1")
            added = time.monotonic()
            await eventually(lambda: _answers(who, "later"), within_s=AGE_S * 1.1 + SLACK_S)
            joined_after = time.monotonic() - added
            assert {await who() for _ in range(20)} == {"first", "later"}
    # gRPC's default pause between resolutions (30 s) would have kept it out for that long.
    assert joined_after < AGE_S * 1.1 + SLACK_S


async def test_a_feed_keeps_its_stream_while_the_connections_under_it_age_out(eventually: Eventually) -> None:
    async with dns_server({NAME: ["127.0.0.1"]}) as dns, _replicas() as start:
        health_servicer = await start("only", "127.0.0.1")
        await health_servicer.set("feed", health_pb2.HealthCheckResponse.SERVING)
        channels = Channels(INTERNAL_TOKEN, balancing=Balancing(connection_age_s=AGE_S / 2))
        channel = channels.get(dns.target(NAME, start.port))
        watch = health_pb2_grpc.HealthStub(channel).Watch
        seen: list[int] = []
        gaps: list[None] = []
        feed = asyncio.create_task(
            follow(
                "health",
                lambda: watch(health_pb2.HealthCheckRequest(service="feed")),
                lambda reply: seen.append(reply.status),
                lambda: gaps.append(None),
            )
        )
        try:
            await eventually(lambda: seen == [health_pb2.HealthCheckResponse.SERVING], within_s=5)
            # Every call on a new connection comes from a new client port: three of them
            # mean two connections were told to go away under the open stream.
            peer = channel.unary_unary(PEER)
            peers: set[bytes] = set()

            async def third_connection() -> bool:
                peers.add(await peer(b"", timeout=5))
                return len(peers) >= 3

            await eventually(third_connection, within_s=AGE_S * 4 + SLACK_S)
            await health_servicer.set("feed", health_pb2.HealthCheckResponse.NOT_SERVING)
            await eventually(lambda: seen[-1] == health_pb2.HealthCheckResponse.NOT_SERVING, within_s=5)
            assert gaps == [], "the stream was cut and followed again"
        finally:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed
            await channels.close()


async def test_a_feed_whose_replica_stops_follows_another_one(eventually: Eventually) -> None:
    async with dns_server({NAME: ["127.0.0.1"]}) as dns, _replicas() as start:
        first = await start("first", "127.0.0.1")
        later = await start("later", "[::1]")
        for health_servicer in (first, later):
            await health_servicer.set("feed", health_pb2.HealthCheckResponse.SERVING)
        async with _client(dns.target(NAME, start.port)) as who:
            watch = health_pb2_grpc.HealthStub(who.channel).Watch
            seen: list[int] = []
            gaps: list[None] = []
            feed = asyncio.create_task(
                follow(
                    "health",
                    lambda: watch(health_pb2.HealthCheckRequest(service="feed")),
                    lambda reply: seen.append(reply.status),
                    lambda: gaps.append(None),
                )
            )
            try:
                await eventually(lambda: seen, within_s=5)
                # The first replica leaves, as a pod scaled down does: out of DNS, then stopped.
                dns.records[NAME] = ["::1"]
                await start.stop("first")
                await eventually(lambda: gaps and len(seen) >= 2, within_s=10)
                await later.set("feed", health_pb2.HealthCheckResponse.NOT_SERVING)
                await eventually(lambda: seen[-1] == health_pb2.HealthCheckResponse.NOT_SERVING, within_s=5)
            finally:
                feed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed


async def _answers(who: _Who, name: str) -> bool:
    return await who() == name


class _Who:
    """Asks a replica its name over the project's channels (with the internal token)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self._call = channel.unary_unary(WHO)

    async def __call__(self) -> str:
        return (await self._call(b"", timeout=5)).decode()


@contextlib.asynccontextmanager
async def _client(target: str) -> AsyncIterator[_Who]:
    channels = Channels(INTERNAL_TOKEN, balancing=Balancing(connection_age_s=AGE_S))
    try:
        yield _Who(channels.get(target))
    finally:
        await channels.close()


class _Starter:
    """Starts named replicas on one port (each on its own loopback address), like
    replicas of a service behind one name; stops what is left at the end."""

    def __init__(self) -> None:
        self.port = free_port()
        self._servers: dict[str, grpc.aio.Server] = {}

    async def __call__(self, name: str, host: str) -> health.aio.HealthServicer:
        server, health_servicer = build_server(INTERNAL_TOKEN, limits=ConnectionLimits(age_s=AGE_S))
        server.add_generic_rpc_handlers((_identity(name),))
        server.add_insecure_port(f"{host}:{self.port}")
        await server.start()
        self._servers[name] = server
        return health_servicer

    async def stop(self, name: str) -> None:
        await self._servers.pop(name).stop(None)

    async def stop_all(self) -> None:
        for name in list(self._servers):
            await self.stop(name)


@contextlib.asynccontextmanager
async def _replicas() -> AsyncIterator[_Starter]:
    starter = _Starter()
    try:
        yield starter
    finally:
        await starter.stop_all()


def _identity(name: str) -> grpc.GenericRpcHandler:
    async def who(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
        return name.encode()

    async def peer(_request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return context.peer().encode()

    return grpc.method_handlers_generic_handler(
        "switchboard.test.Replica",
        {"Who": grpc.unary_unary_rpc_method_handler(who), "Peer": grpc.unary_unary_rpc_method_handler(peer)},
    )
