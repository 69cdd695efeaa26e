"""Hourly rollups: every closed hour is rolled up once the leader gets to it, from the
mark kept in the database; rolling an hour up again replaces it; records arriving late
for a recent hour are counted; rollups outlive the records and then expire too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from switchboard_metrics.domain.histogram import BOUNDS_MS, BUCKETS
from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.domain.retention import DAY_MS
from switchboard_metrics.domain.rollups import HOUR_MS, HourlyRollups, Rollup, RollupFilter
from switchboard_metrics.service import MetricsService
from switchboard_metrics.settings import MetricsSettings
from switchboard_metrics.store import InvocationStore, RollupStore
from switchboard_testing.replicas import started_replicas

# An hour's start (1_699_999_200_000 is 2023-11-14 22:00 UTC).
H0 = 1_699_999_200_000
EVERYTHING = RollupFilter(since_ms=0, until_ms=H0 * 2)


def at(hour: int, *durations: float, tool: str = "echo", success: bool = True, minute: int = 0) -> list:
    started = H0 + hour * HOUR_MS + minute * 60_000
    return [Invocation(tool, duration_ms=d, success=success, started_at_ms=started) for d in durations]


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def rollup_store(store: InvocationStore) -> RollupStore:
    return RollupStore(store)


def rollups_at(store: RollupStore, clock: Clock, **options) -> HourlyRollups:
    return HourlyRollups(store, records_retention_days=30, rollup_retention_days=365, clock=clock, **options)


async def all_rollups(store: RollupStore) -> list[Rollup]:
    return (await store.rollups(EVERYTHING, limit=500, offset=0)).items


def by_hour(rows: list[Rollup]) -> dict[tuple[int, str], Rollup]:
    return {((r.hour_ms - H0) // HOUR_MS, r.tool): r for r in rows}


async def test_a_first_pass_catches_up_every_closed_hour_since_the_first_record(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many(
        at(0, 1.0, 3.0, tool="echo")
        + at(0, 10.0, tool="fail", success=False)
        + at(1, 2.0, minute=59)
        + at(3, 5.0, 7.0)
        + at(5, 9.0)  # the hour under way
    )
    clock = Clock(H0 + 5 * HOUR_MS + 10 * 60_000)

    assert await rollups_at(rollup_store, clock).roll_up_once() == 5

    rows = by_hour(await all_rollups(rollup_store))
    assert set(rows) == {(0, "echo"), (0, "fail"), (1, "echo"), (3, "echo")}
    echo = rows[0, "echo"]
    assert (echo.calls, echo.errors, echo.sum_ms, echo.min_ms, echo.max_ms) == (2, 0, 4.0, 1.0, 3.0)
    assert (rows[0, "fail"].calls, rows[0, "fail"].errors) == (1, 1)
    assert (rows[3, "echo"].calls, rows[3, "echo"].avg_ms) == (2, 6.0)
    assert await rollup_store.rolled_until() == H0 + 5 * HOUR_MS


async def test_a_later_pass_resumes_from_the_mark_in_the_database(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many(at(0, 1.0) + at(1, 1.0))
    await rollups_at(rollup_store, Clock(H0 + 2 * HOUR_MS)).roll_up_once()
    # Hours later, on another replica (nothing in memory), after more calls, and one
    # record for hour 0 arriving later than rollups look back for.
    await store.insert_many(at(2, 1.0) + at(3, 1.0, 1.0) + at(4, 1.0) + at(0, 1.0))
    elsewhere = rollups_at(RollupStore(store), Clock(H0 + 6 * HOUR_MS + 1), late_hours=1)

    assert await elsewhere.roll_up_once() == 5  # hours 1..5: from the mark, less one late hour

    rows = by_hour(await all_rollups(rollup_store))
    assert {hour: r.calls for (hour, _tool), r in rows.items()} == {0: 1, 1: 1, 2: 1, 3: 2, 4: 1}
    assert await rollup_store.rolled_until() == H0 + 6 * HOUR_MS


async def test_records_arriving_late_for_a_recent_hour_are_counted_when_it_is_rolled_again(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    clock = Clock(H0 + 2 * HOUR_MS + 60_000)
    rollups = rollups_at(rollup_store, clock)
    await store.insert_many(at(1, 4.0))
    await rollups.roll_up_once()

    await store.insert_many(at(1, 100.0, success=False, minute=30))  # a proxy's late batch
    clock.now += 5 * 60_000
    await rollups.roll_up_once()

    (row,) = await all_rollups(rollup_store)
    assert (row.calls, row.errors, row.min_ms, row.max_ms, row.sum_ms) == (2, 1, 4.0, 100.0, 104.0)
    assert sum(row.histogram) == 2


async def test_rolling_up_the_same_hours_again_leaves_the_same_rows(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many(at(0, 1.0, 2.0) + at(1, 3.0) + at(2, 4.0, tool="other"))
    await rollup_store.roll_up(H0, H0 + 3 * HOUR_MS)
    first = await all_rollups(rollup_store)

    await rollup_store.roll_up(H0, H0 + 3 * HOUR_MS)
    await rollup_store.roll_up(H0 + HOUR_MS, H0 + 2 * HOUR_MS)

    assert await all_rollups(rollup_store) == first
    assert len(first) == 3


async def test_two_replicas_rolling_up_at_once_agree(store: InvocationStore, database_url: str) -> None:
    await store.insert_many([r for hour in range(6) for r in at(hour, *range(1, 50))])
    other = InvocationStore(database_url)
    await other.open()
    try:
        mine, theirs = RollupStore(store), RollupStore(other)
        await asyncio.gather(*(s.roll_up(H0, H0 + 6 * HOUR_MS) for s in (mine, theirs, mine, theirs)))
        rows = await all_rollups(theirs)
    finally:
        await other.close()

    assert [(r.hour_ms, r.calls) for r in rows] == [(H0 + h * HOUR_MS, 49) for h in range(6)]
    assert await mine.rolled_until() == H0 + 6 * HOUR_MS


async def test_a_mark_never_moves_back(rollup_store: RollupStore) -> None:
    await rollup_store.roll_up(H0, H0 + 5 * HOUR_MS)
    await rollup_store.roll_up(H0, H0 + 2 * HOUR_MS)

    assert await rollup_store.rolled_until() == H0 + 5 * HOUR_MS


async def test_hours_whose_records_retention_may_have_begun_deleting_are_not_rolled_up(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    now = H0 + 40 * DAY_MS + HOUR_MS // 2
    await store.insert_many(at(0, 1.0) + at(40 * 24 - 24 * 30 - 1, 1.0) + at(40 * 24 - 24 * 30 + 1, 1.0))

    await rollups_at(rollup_store, Clock(now)).roll_up_once()

    hours = {hour for hour, _tool in by_hour(await all_rollups(rollup_store))}
    assert hours == {40 * 24 - 24 * 30 + 1}


async def test_rollups_older_than_their_retention_are_deleted(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many([r for hour in range(0, 60) for r in at(hour, 1.0)])
    await rollup_store.roll_up(H0, H0 + 60 * HOUR_MS)
    clock = Clock(H0 + 2 * DAY_MS + 6 * HOUR_MS)  # rollups kept for 2 days: hours 6.. stay
    rollups = HourlyRollups(rollup_store, records_retention_days=1, rollup_retention_days=2, clock=clock)

    await rollups.roll_up_once()

    hours = sorted(hour for hour, _tool in by_hour(await all_rollups(rollup_store)))
    assert hours == list(range(6, 60))
    assert await rollup_store.delete_rollups_before(H0 + 10 * HOUR_MS, hours_per_batch=1) == 4


async def test_percentiles_estimated_from_an_hours_histogram_are_close(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many(at(0, *(float(d) for d in range(1, 101))))
    await rollup_store.roll_up(H0, H0 + HOUR_MS)

    (row,) = await all_rollups(rollup_store)

    assert len(row.histogram) == BUCKETS and sum(row.histogram) == 100
    assert [row.percentile(p) for p in (50, 95, 99)] == pytest.approx([50.0, 95.0, 99.0], abs=0.5)
    assert row.histogram[BOUNDS_MS.index(64.0)] == 32  # 33..64


async def test_the_histogram_covers_the_extremes(store: InvocationStore, rollup_store: RollupStore) -> None:
    await store.insert_many(at(0, 0.0, 0.25, 0.26, 131072.0, 200_000.0))
    await rollup_store.roll_up(H0, H0 + HOUR_MS)

    (row,) = await all_rollups(rollup_store)

    assert (row.histogram[0], row.histogram[1], row.histogram[-2], row.histogram[-1]) == (2, 1, 1, 1)
    assert row.percentile(100) == 200_000.0
    assert 0.0 <= row.percentile(1) <= BOUNDS_MS[0]  # within the right bucket


async def test_rollups_are_read_by_tool_and_window_a_page_at_a_time(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many([r for hour in range(5) for r in at(hour, 1.0) + at(hour, 2.0, tool="other")])
    await rollup_store.roll_up(H0, H0 + 5 * HOUR_MS)
    window = RollupFilter(since_ms=H0 + HOUR_MS, until_ms=H0 + 4 * HOUR_MS, tool="echo")

    first = await rollup_store.rollups(window, limit=2, offset=0)
    rest = await rollup_store.rollups(window, limit=2, offset=2)

    assert (first.total, rest.total) == (4, 4)
    assert [r.hour_ms for r in first.items + rest.items] == [H0 + h * HOUR_MS for h in (1, 2, 3, 4)]
    assert {r.tool for r in first.items + rest.items} == {"echo"}


LEADER_TTL_S = 1.5


@pytest.fixture
async def replicas(tmp_path: Path, database_url: str, redis_server) -> AsyncIterator[list[MetricsService]]:
    """Two metrics replicas sharing a database and Redis, rolling up every 50 ms while leading."""
    settings = MetricsSettings(
        data_dir=tmp_path,
        metrics_database_url=database_url,
        redis_url=redis_server.url,
        leader_ttl_s=LEADER_TTL_S,
        metrics_rollup_interval_s=0.05,
        metrics_retention_days=36_500,
    )
    async with started_replicas(MetricsService, settings, "metrics") as started:
        yield started


async def eventually(condition, *, what: str, within_s: float = 10.0) -> None:
    try:
        async with asyncio.timeout(within_s):
            while not condition():  # noqa: ASYNC110 - a count, no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"{what} not within {within_s}s")


async def test_only_the_leading_replica_rolls_up_and_the_other_takes_over_when_it_stops(
    replicas: list[MetricsService],
) -> None:
    await eventually(lambda: any(r.rollups.passes > 3 for r in replicas), what="a replica rolling up")
    # The one leading now: on a loaded machine a Redis timeout may have moved the lease once
    # already, so the other may have led for a while too.
    (leader,) = [r for r in replicas if r.rollups.passes > 0 and not r.rollups._job.winding_down]
    (standby,) = [r for r in replicas if r is not leader]

    await leader.rollups.stop()
    stopped_at, standby_from = leader.rollups.passes, standby.rollups.passes

    await eventually(
        lambda: standby.rollups.passes > standby_from + 3,
        what="the standby rolling up",
        within_s=LEADER_TTL_S + 1,
    )
    assert leader.rollups.passes == stopped_at


async def test_a_long_catch_up_ends_between_transactions_when_the_job_stops(
    store: InvocationStore, rollup_store: RollupStore
) -> None:
    await store.insert_many(at(0, 1.0))
    closed_until = H0 + 3000 * DAY_MS  # 3000 transactions of a day each to catch up
    rollups = HourlyRollups(
        rollup_store, records_retention_days=36_500, rollup_retention_days=36_500, clock=Clock(closed_until)
    )
    rollups.start()
    await eventually(lambda: rollups.passes > 0, what="a pass")
    async with asyncio.timeout(5):
        while await rollup_store.rolled_until() is None:  # noqa: ASYNC110 - the mark is in the database
            await asyncio.sleep(0.01)

    async with asyncio.timeout(2):
        await rollups.stop()

    assert H0 < await rollup_store.rolled_until() < closed_until
