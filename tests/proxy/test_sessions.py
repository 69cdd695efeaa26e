"""MCP sessions: owned by their user on their endpoint, forgotten when idle, and, with
shared records in a real Redis, found by any replica, ended everywhere, and relayed
between replicas (answers to upstream requests, cancellations)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from switchboard_core.errors import DependencyUnavailable, RateLimited
from switchboard_core.shared.redis_bus import RedisBus
from switchboard_core.shared.redis_client import RedisConfig, make_client
from switchboard_proxy.session_records import RedisRecords, user_sessions_key
from switchboard_proxy.session_relay import SessionRelay
from switchboard_proxy.sessions import (
    SUBSCRIPTIONS_LIMIT,
    Session,
    SessionStore,
    replica_of,
    state_problem,
)

NEW = {"protocol_version": "2025-11-25", "client_info": {"name": "c"}}


async def test_a_session_is_found_only_by_its_owner_on_its_endpoint() -> None:
    store = SessionStore(idle_ttl_s=60)
    session = await store.create(user_id="u1", server_id="s1", **NEW)
    assert store.get(session.id, user_id="u1", server_id="s1") is session
    assert await store.find(session.id, user_id="u1", server_id="s1") is session
    assert store.get(session.id, user_id="u2", server_id="s1") is None
    assert store.get(session.id, user_id="u1", server_id="") is None


async def test_idle_sessions_expire() -> None:
    store = SessionStore(idle_ttl_s=60)
    session = await store.create(user_id="u1", server_id="", **NEW)
    session.last_seen = time.monotonic() - 61
    assert store.expire() == 1
    assert store.get(session.id, user_id="u1", server_id="") is None
    assert len(store) == 0


async def test_session_ids_are_unguessable_and_distinct() -> None:
    store = SessionStore(idle_ttl_s=60, max_per_user=1000)
    ids = {(await store.create(user_id="u", server_id="", **NEW)).id for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 32 for i in ids)


async def test_a_user_past_their_session_limit_is_refused_until_one_of_theirs_ends() -> None:
    store = SessionStore(idle_ttl_s=60, max_per_user=2)
    first = await store.create(user_id="u1", server_id="", **NEW)
    await store.create(user_id="u1", server_id="s1", **NEW)
    with pytest.raises(RateLimited) as refused:
        await store.create(user_id="u1", server_id="", **NEW)
    assert 0 < refused.value.retry_after_s <= 60
    assert "2" in refused.value.message
    assert await store.create(user_id="u2", server_id="", **NEW), "another user is not limited by u1"
    await store.delete(first.id)
    assert await store.create(user_id="u1", server_id="", **NEW)


async def test_a_session_idle_past_its_ttl_no_longer_counts_against_its_user() -> None:
    store = SessionStore(idle_ttl_s=60, max_per_user=1)
    stale = await store.create(user_id="u1", server_id="", **NEW)
    stale.last_seen = time.monotonic() - 61
    assert await store.create(user_id="u1", server_id="", **NEW)
    assert store.local(stale.id) is None


def test_an_initialize_keeping_more_than_the_bound_is_refused() -> None:
    info = {"name": "c", "version": "1"}
    assert state_problem({"clientInfo": info, "capabilities": {"roots": {}}}, 1024) is None
    assert state_problem({}, 1024) is None
    problem = state_problem({"clientInfo": info, "capabilities": {"x": "y" * 2000}}, 1024)
    assert problem is not None and "1024" in problem
    assert state_problem({"clientInfo": "c" * 10}, 1024) == (
        "initialize: clientInfo and capabilities must be objects"
    )


def test_a_session_holds_a_bounded_number_of_subscriptions() -> None:
    session = Session("s", "u", "", "2025-11-25")
    session.subscriptions = {f"file:///{n}" for n in range(SUBSCRIPTIONS_LIMIT - 1)}
    assert session.may_subscribe("file:///new")
    session.subscriptions.add("file:///new")
    assert not session.may_subscribe("file:///another")
    assert session.may_subscribe("file:///new"), "subscribing again to one it holds is no more"


def test_request_ids_name_the_replica_that_sent_them() -> None:
    session = Session("s", "u", "", "2025-11-25", replica="a1b2")
    sent = session.next_request_id()
    assert sent.startswith("sb-a1b2-") and replica_of(sent) == "a1b2"
    assert replica_of(Session("s", "u", "", "x").next_request_id()) is None
    assert replica_of("sb-x") is None and replica_of(7) is None and replica_of("other-1-2") is None


# -- replicas sharing Redis ------------------------------------------------------------


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[tuple[RedisConfig, Redis]]:
    config = RedisConfig(
        url=redis_server.url, retry_interval_s=0.2, socket_timeout_s=0.5, connect_timeout_s=0.5
    )
    client = make_client(config)
    yield config, client
    await client.aclose()


def _replica(client: Redis, name: str) -> SessionStore:
    return SessionStore(idle_ttl_s=60, records=RedisRecords(client), replica=name)


async def test_a_session_opened_on_one_replica_is_found_on_another(redis) -> None:
    _, client = redis
    a, b = _replica(client, "aaaa"), _replica(client, "bbbb")
    opened = await a.create(user_id="u1", server_id="s1", client_capabilities={"sampling": {}}, **NEW)
    adopted = await b.find(opened.id, user_id="u1", server_id="s1")
    assert adopted is not None and adopted is not opened
    assert adopted.client_capabilities == {"sampling": {}} and adopted.protocol_version == "2025-11-25"
    assert adopted.replica == "bbbb"
    assert await b.find(opened.id, user_id="u2", server_id="s1") is None
    assert await b.find(opened.id, user_id="u1", server_id="other") is None
    assert await b.find("no-such-session", user_id="u1", server_id="s1") is None


async def test_forgetting_an_idle_copy_keeps_the_session_for_other_replicas(redis) -> None:
    _, client = redis
    a, b = _replica(client, "aaaa"), _replica(client, "bbbb")
    session = await a.create(user_id="u1", server_id="", **NEW)
    session.last_seen = time.monotonic() - 61
    assert a.expire() == 1
    assert await b.find(session.id, user_id="u1", server_id="") is not None
    assert await a.find(session.id, user_id="u1", server_id="") is not None, (
        "and the first one adopts it again"
    )


async def test_deleting_a_session_ends_it_on_every_replica_within_a_second(redis) -> None:
    config, client = redis
    buses = [RedisBus(client, config), RedisBus(client, config)]
    stores = [_replica(client, "aaaa"), _replica(client, "bbbb")]
    relays = [SessionRelay(bus, store) for bus, store in zip(buses, stores, strict=True)]
    ended: list[str] = []
    stores[1].on_end = lambda s: ended.append(s.id)
    try:
        for bus, relay in zip(buses, relays, strict=True):
            await bus.start()
            await relay.start(deliver=_ignore, cancel=_ignore)
        session = await stores[0].create(user_id="u1", server_id="", **NEW)
        assert await stores[1].find(session.id, user_id="u1", server_id="") is not None
        await stores[0].delete(session.id)
        async with asyncio.timeout(1):
            while not ended:  # noqa: ASYNC110 - the relay offers no event to wait on
                await asyncio.sleep(0.01)
        assert ended == [session.id]
        assert await stores[1].find(session.id, user_id="u1", server_id="") is None
    finally:
        for relay, bus in zip(relays, buses, strict=True):
            await relay.close()
            await bus.close()


async def test_replicas_share_a_users_session_count(redis) -> None:
    _, client = redis
    a = SessionStore(idle_ttl_s=60, max_per_user=2, records=RedisRecords(client), replica="aaaa")
    b = SessionStore(idle_ttl_s=60, max_per_user=2, records=RedisRecords(client), replica="bbbb")
    first = await a.create(user_id="u1", server_id="", **NEW)
    await b.create(user_id="u1", server_id="", **NEW)
    for replica in (a, b):
        with pytest.raises(RateLimited) as refused:
            await replica.create(user_id="u1", server_id="", **NEW)
        assert 55 <= refused.value.retry_after_s <= 60
    assert await b.create(user_id="u2", server_id="", **NEW), "another user is not limited by u1"
    await a.delete(first.id)
    assert await b.create(user_id="u1", server_id="", **NEW)


async def test_a_shared_session_whose_record_expired_no_longer_counts(redis) -> None:
    _, client = redis
    store = SessionStore(idle_ttl_s=60, max_per_user=1, records=RedisRecords(client), replica="aaaa")
    gone = await store.create(user_id="u1", server_id="", **NEW)
    with pytest.raises(RateLimited):
        await store.create(user_id="u1", server_id="", **NEW)
    # As if its replica had died an idle TTL ago: nothing refreshed it since.
    await client.zadd(user_sessions_key("u1"), {gone.id: 1}, xx=True)
    assert await store.create(user_id="u1", server_id="", **NEW)


async def test_refreshing_a_shared_session_keeps_it_counted(redis) -> None:
    _, client = redis
    store = SessionStore(idle_ttl_s=60, max_per_user=1, records=RedisRecords(client), replica="aaaa")
    kept = await store.create(user_id="u1", server_id="", **NEW)
    await client.zadd(user_sessions_key("u1"), {kept.id: int(time.time() * 1000) + 10}, xx=True)
    await store.refresh(within_s=60)
    assert await client.zscore(user_sessions_key("u1"), kept.id) > time.time() * 1000 + 50_000
    with pytest.raises(RateLimited):
        await store.create(user_id="u1", server_id="", **NEW)


async def test_an_answer_reaching_another_replica_goes_to_the_one_that_asked(redis) -> None:
    config, client = redis
    buses = [RedisBus(client, config), RedisBus(client, config)]
    stores = [_replica(client, "aaaa"), _replica(client, "bbbb")]
    relays = [SessionRelay(bus, store) for bus, store in zip(buses, stores, strict=True)]
    arrived: asyncio.Queue = asyncio.Queue()

    async def deliver(message: dict, session: Session) -> None:
        await arrived.put((message, session))

    try:
        for bus, relay in zip(buses, relays, strict=True):
            await bus.start()
            await relay.start(deliver=deliver, cancel=_ignore)
        asking = await stores[0].create(user_id="u1", server_id="", **NEW)
        request_id = asking.next_request_id()
        elsewhere = await stores[1].find(asking.id, user_id="u1", server_id="")
        await relays[1].answer_elsewhere(replica_of(request_id), elsewhere, {"id": request_id, "result": {}})
        async with asyncio.timeout(1):
            message, session = await arrived.get()
        assert message == {"id": request_id, "result": {}} and session is asking
    finally:
        for relay, bus in zip(relays, buses, strict=True):
            await relay.close()
            await bus.close()


async def test_without_redis_sessions_are_not_found_and_none_can_open(redis_server) -> None:
    config = RedisConfig(
        url=redis_server.url, retry_interval_s=0.2, socket_timeout_s=0.5, connect_timeout_s=0.5
    )
    client = make_client(config)
    try:
        store = _replica(client, "aaaa")
        session = await store.create(user_id="u1", server_id="", **NEW)
        redis_server.stop()
        other = _replica(client, "bbbb")
        started = time.monotonic()
        assert await other.find(session.id, user_id="u1", server_id="") is None
        with pytest.raises(DependencyUnavailable):
            await other.create(user_id="u1", server_id="", **NEW)
        assert time.monotonic() - started < 2, "never waits on a Redis that went away"
        assert store.get(session.id, user_id="u1", server_id="") is session, (
            "what a replica holds still serves"
        )
    finally:
        await client.aclose()


async def _ignore(_message: dict, _session: Session) -> None:
    return None
