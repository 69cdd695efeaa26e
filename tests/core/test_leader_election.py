"""Leader election: one replica at a time runs the job; hand-over on stop, crash and outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from switchboard_core.shared.leader import AlwaysLeader, RedisLeadership, campaign
from switchboard_core.shared.redis_client import namespaced
from switchboard_testing.redis_server import RedisServer

TTL_S = 1.5
NAME = "registry-health"


@dataclass
class Runs:
    """Who runs the job right now; `most` is the largest number ever running at once."""

    now: set[str] = field(default_factory=set)
    most: int = 0
    starts: int = 0

    def job(self, owner: str):
        async def run() -> None:
            self.now.add(owner)
            self.starts += 1
            self.most = max(self.most, len(self.now))
            try:
                await asyncio.Event().wait()
            finally:
                self.now.discard(owner)

        return run


@dataclass
class Contenders:
    leaderships: list[RedisLeadership]
    tasks: dict[str, asyncio.Task[None]]
    runs: Runs

    def leader(self) -> str:
        (owner,) = self.runs.now
        return owner

    async def stop(self, owner: str) -> None:
        task = self.tasks.pop(owner)
        task.cancel()
        await asyncio.wait({task})


@pytest.fixture
async def contenders(replicas) -> AsyncIterator[Contenders]:
    """Three replicas, each with its own Redis client, contending for one lease."""
    runs = Runs()
    leaderships = [
        RedisLeadership(replicas.client(), "registry", ttl_s=TTL_S, owner=f"r{n}") for n in range(3)
    ]
    tasks = {
        lead.owner: asyncio.create_task(lead.run_while_leader(NAME, runs.job(lead.owner)))
        for lead in leaderships
    }
    made = Contenders(leaderships, tasks, runs)
    try:
        yield made
    finally:
        for owner in list(made.tasks):
            await made.stop(owner)
    assert runs.most <= 1, "two replicas ran the job at once"


async def test_of_three_contenders_exactly_one_runs_the_job_and_keeps_its_lease(
    contenders, replicas, eventually
):
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=TTL_S, what="a leader")
    leader = contenders.leader()
    observer = replicas.client()
    key = namespaced("registry", "leader", NAME)
    # Renewals keep pushing the expiry out (between them the time to live only falls):
    # watch three of them, with the same leader throughout.
    seen = [await observer.pttl(key)]

    async def renewed() -> bool:
        seen.append(await observer.pttl(key))
        return seen[-1] > seen[-2]

    for _ in range(3):
        await eventually(renewed, within_s=TTL_S, what="a renewal")
        assert contenders.runs.now == {leader}
    assert await observer.get(key) is not None
    holders = [lead.owner for lead in contenders.leaderships if lead.holds(NAME)]
    assert holders == [leader]
    assert contenders.runs.starts == 1


async def test_stopping_the_leader_hands_over_within_the_ttl_plus_one_second(contenders, eventually):
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=TTL_S, what="a leader")
    old = contenders.leader()
    started = time.monotonic()
    await contenders.stop(old)
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=TTL_S + 1, what="a new leader")
    assert contenders.leader() != old
    # The lease was given up on stop, so the hand-over did not wait for it to expire.
    assert time.monotonic() - started < TTL_S


async def test_a_leader_that_vanished_without_giving_up_the_lease_is_replaced_once_it_expires(
    replicas, eventually
):
    observer = replicas.client()
    key = namespaced("registry", "leader", NAME)
    await observer.set(key, b"crashed-replica", px=int(TTL_S * 1000))
    runs = Runs()
    lead = RedisLeadership(replicas.client(), "registry", ttl_s=TTL_S, owner="r0")
    started = time.monotonic()
    task = asyncio.create_task(lead.run_while_leader(NAME, runs.job("r0")))
    try:
        await eventually(lambda: runs.now == {"r0"}, within_s=TTL_S + 1, what="a takeover")
        # Not before the crashed leader's lease ran out.
        assert time.monotonic() - started > TTL_S * 0.8
    finally:
        task.cancel()
        await asyncio.wait({task})


async def test_in_a_redis_outage_nobody_runs_the_job_and_someone_leads_again_after_it(
    contenders, redis_server: RedisServer, eventually
):
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=TTL_S, what="a leader")
    started = time.monotonic()
    await asyncio.to_thread(redis_server.stop)
    # The leader gives up before its lease could expire in Redis (no split brain).
    await eventually(lambda: not contenders.runs.now, within_s=TTL_S, what="the job stopped")
    assert time.monotonic() - started < TTL_S
    await asyncio.to_thread(redis_server.start_again)
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=TTL_S + 1, what="a leader again")


async def test_a_silent_redis_stops_the_leader_before_its_lease_could_pass_to_another(
    contenders, redis_server: RedisServer, eventually
):
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=TTL_S, what="a leader")
    started = time.monotonic()
    redis_server.freeze()
    try:
        await eventually(lambda: not contenders.runs.now, within_s=TTL_S, what="the job stopped")
        assert time.monotonic() - started < TTL_S
    finally:
        redis_server.thaw()
    await eventually(lambda: len(contenders.runs.now) == 1, within_s=2 * TTL_S, what="a leader again")


async def test_embedded_the_one_process_always_leads_and_restarts_a_failed_job(eventually):
    leadership = AlwaysLeader()
    calls = []

    async def flaky() -> None:
        calls.append(leadership.holds(NAME))
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    async with asyncio.timeout(5):
        await leadership.run_while_leader(NAME, flaky)
    assert calls == [True, True]
    assert not leadership.holds(NAME)


async def test_a_campaign_without_a_job_tells_who_holds_the_lease(replicas, eventually):
    one = RedisLeadership(replicas.client(), "registry", ttl_s=TTL_S, owner="r0")
    other = RedisLeadership(replicas.client(), "registry", ttl_s=TTL_S, owner="r1")
    tasks = [asyncio.create_task(campaign(lead, NAME)) for lead in (one, other)]
    try:
        await eventually(lambda: one.holds(NAME) or other.holds(NAME), within_s=TTL_S, what="a holder")
        assert one.holds(NAME) != other.holds(NAME)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
