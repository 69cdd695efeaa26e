"""A client answering upstream requests has one session with each upstream, whichever
replica serves it: replicas sharing a real Redis claim, record and adopt it, one of
them follows its GET stream, and it is ended upstream once when the client session
ends (deleted, or expired everywhere)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from switchboard_core.shared.redis_client import RedisConfig, make_client
from switchboard_mcp.upstream import UpstreamPool
from switchboard_proxy import client_upstreams
from switchboard_proxy.client_upstreams import ClientUpstreams
from switchboard_proxy.session_records import RedisRecords
from switchboard_proxy.sessions import Session, SessionStore
from switchboard_proxy.upstream_records import UpstreamRecords
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.upstream_process import UpstreamProcess

NEW = {"protocol_version": "2025-11-25", "client_info": {"name": "c"}}
ELICITING = {"elicitation": {}}


@dataclass
class Replica:
    sessions: SessionStore
    upstreams: ClientUpstreams
    pool: UpstreamPool
    releases: list[asyncio.Task]


@pytest.fixture
async def replicas(redis_server) -> AsyncIterator[list[Replica]]:
    config = RedisConfig(url=redis_server.url, socket_timeout_s=0.5, connect_timeout_s=0.5)
    client = make_client(config)
    made: list[Replica] = []
    for name in ("aaaa", "bbbb"):
        store = SessionStore(idle_ttl_s=1.0, records=RedisRecords(client), replica=name)
        pool = UpstreamPool(policy=LOOPBACK_ALLOWED, timeout_s=5)
        upstreams = ClientUpstreams(pool, timeout_s=5)
        upstreams.share_through(UpstreamRecords(client, replica=name, session_ttl_s=1.0))
        replica = Replica(store, upstreams, pool, [])
        store.on_end = lambda session, r=replica: r.releases.append(
            asyncio.create_task(r.upstreams.release(session))
        )
        made.append(replica)
    yield made
    for replica in made:
        await replica.upstreams.close()
        await replica.pool.close()
    await client.aclose()


async def _ledger(upstream: UpstreamProcess) -> dict[str, dict[str, int]]:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{upstream.base_url}/sessions")).json()


async def _count(replica: Replica, session: Session, url: str) -> tuple[str, int]:
    upstream = await replica.upstreams.session_for(url, session)
    result = await upstream.call_tool("session_counter", {})
    session_id, count = result["content"][0]["text"].split()
    return session_id, int(count)


async def _on_both(replicas: list[Replica]) -> tuple[Session, Session]:
    first, second = replicas
    opened = await first.sessions.create(user_id="u", server_id="", client_capabilities=ELICITING, **NEW)
    adopted = await second.sessions.find(opened.id, user_id="u", server_id="")
    assert adopted is not None
    return opened, adopted


async def _until(condition, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await condition():  # noqa: ASYNC110 - the upstream offers nothing to wait on
            await asyncio.sleep(0.05)


async def test_two_replicas_using_a_client_session_at_once_share_one_upstream_session(
    replicas, upstream
) -> None:
    sessions = await _on_both(replicas)
    first_use = await asyncio.gather(
        *(_count(replica, session, upstream.url) for replica, session in zip(replicas, sessions, strict=True))
    )
    later = [await _count(replicas[i % 2], sessions[i % 2], upstream.url) for i in range(4)]
    upstream_ids = {session_id for session_id, _ in first_use + later}
    assert len(upstream_ids) == 1, "one upstream session, whichever replica used it"
    assert sorted(count for _, count in first_use) == [1, 2]
    assert [count for _, count in later] == [3, 4, 5, 6]
    ledger = await _ledger(upstream)
    assert [i for i, seen in ledger.items() if seen["opened"]] == list(upstream_ids), "one initialize"


async def test_one_replica_follows_the_event_stream_and_another_takes_over_when_it_stops(
    replicas, upstream, monkeypatch
) -> None:
    monkeypatch.setattr(client_upstreams, "FOLLOW_LEASE_S", 0.6)
    sessions = await _on_both(replicas)
    upstream_id, _ = await _count(replicas[0], sessions[0], upstream.url)
    await _count(replicas[1], sessions[1], upstream.url)
    assert (await _ledger(upstream))[upstream_id]["streams"] == 1

    await replicas[0].upstreams.close()  # the following replica stops

    async def followed_again() -> bool:
        await _count(replicas[1], sessions[1], upstream.url)
        return (await _ledger(upstream))[upstream_id]["streams"] >= 2

    await _until(followed_again)
    assert (await _ledger(upstream))[upstream_id]["deleted"] == 0, "a stopping replica ends nothing"


async def test_deleting_the_client_session_ends_its_upstream_session_once(replicas, upstream) -> None:
    sessions = await _on_both(replicas)
    upstream_id, _ = await _count(replicas[1], sessions[1], upstream.url)
    await _count(replicas[0], sessions[0], upstream.url)

    await replicas[1].sessions.delete(sessions[1].id)
    replicas[0].sessions.ended_elsewhere(sessions[0].id)
    await asyncio.gather(*(task for replica in replicas for task in replica.releases))

    assert _ended(await _ledger(upstream)) == {upstream_id: 1}


async def test_a_client_session_expired_everywhere_ends_its_upstream_session_once(replicas, upstream) -> None:
    sessions = await _on_both(replicas)
    upstream_id, _ = await _count(replicas[0], sessions[0], upstream.url)
    await _count(replicas[1], sessions[1], upstream.url)
    for replica, session in zip(replicas, sessions, strict=True):
        session.last_seen -= 2.0
        assert replica.sessions.expire() == 1
    await asyncio.gather(*(task for replica in replicas for task in replica.releases))

    async def ended() -> bool:
        return (await _ledger(upstream))[upstream_id]["deleted"] >= 1

    await _until(ended)
    async with asyncio.timeout(5):
        for replica in replicas:
            await asyncio.gather(*replica.upstreams._watching)
    assert _ended(await _ledger(upstream)) == {upstream_id: 1}


def _ended(ledger: dict[str, dict[str, int]]) -> dict[str, int]:
    """How many times each upstream session opened was ended."""
    return {session_id: seen["deleted"] for session_id, seen in ledger.items() if seen["opened"]}


async def test_when_the_following_replica_dies_another_takes_over_once_its_lease_lapses(
    replicas, upstream, monkeypatch
) -> None:
    monkeypatch.setattr(client_upstreams, "FOLLOW_LEASE_S", 0.6)
    sessions = await _on_both(replicas)
    upstream_id, _ = await _count(replicas[0], sessions[0], upstream.url)
    await _count(replicas[1], sessions[1], upstream.url)
    dying = replicas[0].upstreams

    async def gone_without_a_word(session_id: str, url: str) -> None:
        return None

    monkeypatch.setattr(dying._records, "resign", gone_without_a_word)
    await dying.close()  # its GET stream drops, its lease stays behind until it lapses

    async def followed_again() -> bool:
        await _count(replicas[1], sessions[1], upstream.url)
        return (await _ledger(upstream))[upstream_id]["streams"] >= 2

    await _until(followed_again)


async def test_with_redis_not_answering_a_replica_opens_its_own_upstream_session_at_once(
    replicas, upstream, redis_server
) -> None:
    sessions = await _on_both(replicas)
    redis_server.freeze()
    try:
        async with asyncio.timeout(2.0):
            _, count = await _count(replicas[1], sessions[1], upstream.url)
    finally:
        redis_server.thaw()
    assert count == 1


async def test_an_upstream_session_ended_upstream_is_opened_again_once_for_every_replica(
    replicas, upstream
) -> None:
    sessions = await _on_both(replicas)
    first_id, _ = await _count(replicas[0], sessions[0], upstream.url)
    await _count(replicas[1], sessions[1], upstream.url)
    async with httpx.AsyncClient() as http:
        ended = await http.delete(upstream.url, headers={"mcp-session-id": first_id})
    assert ended.status_code == 200  # the upstream forgets it, as after a restart

    again = [await _count(replicas[i % 2], sessions[i % 2], upstream.url) for i in range(4)]
    assert len({session_id for session_id, _ in again}) == 1 and again[0][0] != first_id
    assert [count for _, count in again] == [1, 2, 3, 4]
