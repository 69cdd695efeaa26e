"""Records older than the retention period are deleted; newer ones stay."""

from __future__ import annotations

import asyncio

from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.domain.retention import DAY_MS, RetentionPruner
from switchboard_metrics.domain.stats import StatsFilter
from switchboard_metrics.store import InvocationStore

NOW = 1_700_000_000_000
ALL = StatsFilter(since_ms=0, until_ms=NOW * 2)


def at(*started: int) -> list[Invocation]:
    return [Invocation("echo", duration_ms=1.0, started_at_ms=s) for s in started]


async def test_a_pass_deletes_only_what_is_older_than_retention(store: InvocationStore) -> None:
    cutoff = NOW - 7 * DAY_MS
    await store.insert_many(at(cutoff - 1, cutoff - DAY_MS, cutoff, NOW))
    pruner = RetentionPruner(store, retention_days=7, clock=lambda: NOW)

    assert await pruner.prune_once() == 2

    summary = await store.summary(ALL)
    assert summary.stats.calls == 2


async def test_deletes_go_in_bounded_batches_until_nothing_is_left(store: InvocationStore) -> None:
    await store.insert_many(at(*range(1, 26)) + at(NOW))

    assert await store.delete_started_before(NOW, batch=10) == 25

    assert (await store.summary(ALL)).stats.calls == 1


async def test_the_background_task_prunes_on_start_and_stops_cleanly(store: InvocationStore) -> None:
    await store.insert_many(at(1, 2, NOW))
    pruner = RetentionPruner(store, retention_days=1, clock=lambda: NOW, interval_s=0.01)

    pruner.start()
    async with asyncio.timeout(5):
        while True:
            if (await store.summary(ALL)).stats.calls == 1:
                break
            await asyncio.sleep(0.01)
    await pruner.stop()
