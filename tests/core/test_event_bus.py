"""The event bus: the same behaviour embedded and over Redis, and Redis outages mended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.shared.bus import MAX_PENDING, Bus, InProcessBus, Message, Subscription
from switchboard_testing.redis_server import RedisServer


async def next_message(subscription: Subscription, within_s: float = 1.0) -> Message:
    async with asyncio.timeout(within_s):
        return await anext(subscription)


@pytest.fixture(params=["in-process", "redis"])
async def two_replicas(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """Two replicas' buses: embedded, both are the one process's bus."""
    if request.param == "in-process":
        bus = InProcessBus()
        yield bus, bus
        await bus.close()
    else:
        replicas = request.getfixturevalue("open_replicas")
        try:
            yield await replicas.bus(), await replicas.bus()
        finally:
            await replicas.close()


async def test_a_replica_hears_what_another_publishes_within_a_second(two_replicas: tuple[Bus, Bus]) -> None:
    one, other = two_replicas
    async with await other.subscribe("registry:catalog") as catalog:
        await one.publish("registry:catalog", b"revision 7")
        assert await next_message(catalog) == Message("registry:catalog", b"revision 7")


async def test_publishing_says_how_many_processes_heard_it(two_replicas: tuple[Bus, Bus]) -> None:
    one, other = two_replicas
    assert await one.publish("proxy:posts:s-1", b"nobody") == 0
    first = await other.subscribe("proxy:posts:s-1")
    second = await other.subscribe("proxy:posts:s-1")
    assert await one.publish("proxy:posts:s-1", b"one process, two subscribers") == 1
    await first.close()
    await second.close()
    deadline = time.monotonic() + 1.0  # Redis hears the UNSUBSCRIBE on another connection
    while await one.publish("proxy:posts:s-1", b"gone?") != 0:
        assert time.monotonic() < deadline, "a closed subscription is still counted"
        await asyncio.sleep(0.01)


async def test_a_pattern_hears_every_channel_it_matches_and_no_other(two_replicas: tuple[Bus, Bus]) -> None:
    one, other = two_replicas
    async with await other.subscribe("auth:*") as everything_auth:
        await one.publish("registry:catalog", b"not for auth")
        await one.publish("auth:revocations", b"t-1")
        await one.publish("auth:keys", b"k-2")
        assert await next_message(everything_auth) == Message("auth:revocations", b"t-1")
        assert await next_message(everything_auth) == Message("auth:keys", b"k-2")


async def test_a_closed_subscription_ends_and_others_on_the_channel_go_on(
    two_replicas: tuple[Bus, Bus],
) -> None:
    one, other = two_replicas
    leaving = await other.subscribe("proxy:sessions")
    staying = await other.subscribe("proxy:sessions")
    await leaving.close()
    await one.publish("proxy:sessions", b"s-1")
    assert await next_message(staying) == Message("proxy:sessions", b"s-1")
    assert [m async for m in leaving] == []
    await staying.close()


async def test_a_subscriber_far_behind_gets_a_resync_instead_of_an_endless_backlog() -> None:
    bus = InProcessBus()
    async with await bus.subscribe("registry:catalog") as slow:
        for n in range(MAX_PENDING + 5):
            await bus.publish("registry:catalog", b"%d" % n)
        first = await next_message(slow)
        assert first.resync
        assert await next_message(slow) == Message("registry:catalog", b"%d" % MAX_PENDING)
    await bus.close()


async def test_every_subscription_of_a_process_shares_one_redis_connection(
    replicas, redis_server: RedisServer
) -> None:
    bus = await replicas.bus()
    for name in ("auth:revocations", "registry:catalog", "proxy:sessions", "metrics:*"):
        await bus.subscribe(name)
    observer = replicas.client()
    clients = await observer.client_list()
    subscribed = [c for c in clients if int(c["sub"]) or int(c["psub"])]
    assert len(subscribed) == 1
    # the bus's own channel, three channels, one pattern
    assert (int(subscribed[0]["sub"]), int(subscribed[0]["psub"])) == (4, 1)


async def test_after_redis_restarts_subscriptions_resume_by_themselves_with_a_resync_first(
    replicas, redis_server: RedisServer, eventually
) -> None:
    publisher, listener = await replicas.bus(), await replicas.bus()
    catalog = await listener.subscribe("registry:catalog")
    await asyncio.to_thread(redis_server.stop)
    # Publishing while Redis is away fails at once, with the project's error.
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="Redis at"):
        await publisher.publish("registry:catalog", b"lost")
    assert time.monotonic() - started < replicas.publish_timeout_s + 0.2
    # Redis stays away for a while (the reader fails to reconnect 4 times: ~1.4 s), then returns.
    await eventually(lambda: listener.failures >= 4, within_s=5, what="four failed reconnections")
    await asyncio.to_thread(redis_server.start_again)
    resync = await next_message(catalog, within_s=5)
    assert resync.resync
    assert listener.reconnects == 1
    await publisher.publish("registry:catalog", b"revision 8")
    assert await next_message(catalog) == Message("registry:catalog", b"revision 8")


async def test_a_silent_redis_is_noticed_and_publishing_to_it_does_not_hang(
    replicas, redis_server: RedisServer, eventually
) -> None:
    publisher, listener = await replicas.bus(), await replicas.bus()
    catalog = await listener.subscribe("registry:catalog")
    redis_server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable):
            await publisher.publish("registry:catalog", b"lost")
        assert time.monotonic() - started < replicas.publish_timeout_s + 0.2
        # Three unanswered pings and the reader gives the connection up.
        await eventually(
            lambda: listener.failures >= 1, within_s=4 * replicas.ping_interval_s + 1, what="silence noticed"
        )
    finally:
        redis_server.thaw()
    assert (await next_message(catalog, within_s=5)).resync
    await publisher.publish("registry:catalog", b"revision 9")
    assert await next_message(catalog) == Message("registry:catalog", b"revision 9")


async def test_a_subscription_made_while_redis_is_away_is_served_once_it_returns(
    replicas, redis_server: RedisServer, eventually
) -> None:
    publisher, listener = await replicas.bus(), await replicas.bus()
    await asyncio.to_thread(redis_server.stop)
    await eventually(lambda: listener.failures >= 1, within_s=5, what="outage noticed")
    started = time.monotonic()
    late = await listener.subscribe("registry:catalog")
    assert time.monotonic() - started < 0.5
    await asyncio.to_thread(redis_server.start_again)
    assert (await next_message(late, within_s=5)).resync
    await publisher.publish("registry:catalog", b"revision 10")
    assert await next_message(late) == Message("registry:catalog", b"revision 10")
