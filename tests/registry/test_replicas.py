"""Two registry replicas sharing a database and Redis: a change made on either reaches
the watchers of both, and the work on upstreams (health checks, followers) runs on one
of them at a time, passing to the other when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.principals import Principal
from switchboard_core.shared.bus import RESYNC, InProcessBus
from switchboard_registry import RegistryService, RegistrySettings
from switchboard_registry.domain.change_relay import ChangeRelay
from switchboard_registry.domain.changes import CHANNEL
from switchboard_registry.store import revision as revision_store
from switchboard_testing.outbound import OUTBOUND_ALLOW
from switchboard_testing.replicas import started_replicas, stop_replica

BY = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")
LEADER_TTL_S = 1.5
DEADLINE_S = 10.0


async def _eventually(check: Callable[[], object], *, what: str, within_s: float = DEADLINE_S) -> None:
    try:
        async with asyncio.timeout(within_s):
            while True:
                result = check()
                if isinstance(result, Awaitable):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"{what} not within {within_s}s")


@pytest.fixture
async def replicas(tmp_path: Path, database_url: str, redis_server) -> AsyncIterator[list[RegistryService]]:
    """Two started registry replicas, each with its own Redis connections (as two processes have)."""
    settings = RegistrySettings(
        data_dir=tmp_path,
        registry_database_url=database_url,
        redis_url=redis_server.url,
        leader_ttl_s=LEADER_TTL_S,
        health_interval_s=0.2,
        discovery_timeout_s=5.0,
        outbound_allow=OUTBOUND_ALLOW.split(","),
    )
    async with started_replicas(RegistryService, settings, "registry") as started:
        yield started


async def test_a_change_on_one_replica_reaches_the_watchers_of_the_other_within_a_second(
    replicas: list[RegistryService], alpha
) -> None:
    writer, other = replicas
    watch = other.registry.changes.watch()
    try:
        before = await anext(watch)

        await writer.registry.gateways.register("alpha", alpha.url, by=BY)

        async with asyncio.timeout(1.0):
            assert await anext(watch) > before
    finally:
        await watch.aclose()


async def test_one_replica_checks_and_follows_upstreams_and_the_other_takes_over_when_it_stops(
    replicas: list[RegistryService], alpha
) -> None:
    await _eventually(lambda: sum(r.leading for r in replicas) == 1, what="a leader")
    (leader,) = [r for r in replicas if r.leading]
    (standby,) = [r for r in replicas if not r.leading]
    gateway = (await leader.registry.gateways.register("alpha", alpha.url, by=BY)).gateway

    await _eventually(lambda: gateway.id in leader.followers.followed, what="the leader following alpha")
    rounds = leader.health_schedule.rounds
    await _eventually(lambda: leader.health_schedule.rounds > rounds + 2, what="the leader's health checks")
    assert standby.health_schedule.rounds == 0
    assert standby.followers.followed == set()

    await stop_replica(leader)

    # The stopping leader gave its lease up: the standby takes it at its next try (ttl/3).
    await _eventually(lambda: standby.leading, what="the standby leading", within_s=LEADER_TTL_S)
    await _eventually(lambda: standby.health_schedule.rounds > 2, what="the standby's health checks")
    await _eventually(lambda: gateway.id in standby.followers.followed, what="the standby following alpha")


async def test_after_a_resync_watchers_get_the_revision_another_replica_committed_unheard(
    registry_service: RegistryService, database_url: str
) -> None:
    changes = registry_service.registry.changes
    subscription = await InProcessBus().subscribe(CHANNEL)
    relay = asyncio.create_task(ChangeRelay(changes, recheck_s=None).run(subscription))
    engine = create_engine(database_url)
    try:
        with changes.feed.subscribe() as watcher:
            revisions = watcher.after(await changes.current())
            # Another replica's change, whose announcement the bus lost.
            async with sessionmaker(engine).begin() as s:
                unheard = await revision_store.bump(s)

            subscription.deliver(RESYNC)  # what the bus tells every subscriber once it is back

            async with asyncio.timeout(1.0):
                assert await anext(revisions) == unheard
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await engine.dispose()


async def test_a_change_whose_announcement_was_never_published_reaches_watchers_within_a_second(
    registry_service: RegistryService, database_url: str
) -> None:
    """The writer's publish failed (Redis away from it only): no message, no resync, yet
    the revision it committed is read from the database within a recheck."""
    changes = registry_service.registry.changes
    subscription = await InProcessBus().subscribe(CHANNEL)
    relay = asyncio.create_task(ChangeRelay(changes).run(subscription))
    engine = create_engine(database_url)
    try:
        with changes.feed.subscribe() as watcher:
            revisions = watcher.after(await changes.current())
            async with sessionmaker(engine).begin() as s:
                unheard = await revision_store.bump(s)
            async with asyncio.timeout(1.5):
                assert await anext(revisions) == unheard
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await engine.dispose()
