"""Per-tool and overall latency statistics, computed in SQL over a time window."""

from __future__ import annotations

import random

import pytest
from switchboard_core.errors import InvalidInput
from switchboard_core.principals import Principal
from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.domain.stats import DEFAULT_WINDOW_MS, StatsFilter, StatsReader
from switchboard_metrics.domain.visibility import AccessIndex, Visibility
from switchboard_metrics.store import InvocationStore

T0 = 1_700_000_000_000
ALL = StatsFilter(since_ms=0, until_ms=T0 * 2)
ADMIN = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40)


class NoIndex:
    """An administrator's queries never ask for the access index."""

    async def index(self) -> AccessIndex:
        raise AssertionError("not asked for")


EVERYTHING = Visibility(NoIndex())


def calls(tool: str, durations, *, failing: int = 0, server_id: str = "s1", at: int = T0) -> list[Invocation]:
    return [
        Invocation(tool, server_id=server_id, duration_ms=float(d), success=i >= failing, started_at_ms=at)
        for i, d in enumerate(durations)
    ]


async def test_percentiles_of_one_to_a_hundred_are_the_nearest_ranks(store: InvocationStore) -> None:
    durations = list(range(1, 101))
    random.Random(7).shuffle(durations)
    await store.insert_many(calls("echo", durations))

    [echo] = await store.tool_stats(ALL)

    assert echo.tool == "echo"
    assert (echo.stats.p50_ms, echo.stats.p95_ms, echo.stats.p99_ms) == (50.0, 95.0, 99.0)
    assert echo.stats.avg_ms == pytest.approx(50.5)
    assert echo.stats.calls == 100


async def test_each_tool_gets_its_own_percentiles_and_error_count(store: InvocationStore) -> None:
    await store.insert_many(
        calls("fast", range(1, 11), failing=2) + calls("slow", range(1000, 1020), failing=5)
    )

    by_tool = {t.tool: t.stats for t in await store.tool_stats(ALL)}

    assert (by_tool["fast"].calls, by_tool["fast"].errors) == (10, 2)
    assert (by_tool["slow"].calls, by_tool["slow"].errors) == (20, 5)
    assert (by_tool["fast"].p50_ms, by_tool["fast"].p95_ms, by_tool["fast"].p99_ms) == (5.0, 10.0, 10.0)
    assert (by_tool["slow"].p50_ms, by_tool["slow"].p95_ms, by_tool["slow"].p99_ms) == (
        1009.0,
        1018.0,
        1019.0,
    )


async def test_a_single_call_is_every_percentile(store: InvocationStore) -> None:
    await store.insert_many(calls("once", [7]))

    [once] = await store.tool_stats(ALL)

    assert (once.stats.p50_ms, once.stats.p95_ms, once.stats.p99_ms, once.stats.avg_ms) == (
        7.0,
        7.0,
        7.0,
        7.0,
    )


async def test_a_server_filter_counts_only_that_servers_calls(store: InvocationStore) -> None:
    await store.insert_many(calls("echo", [1, 2, 3], server_id="a") + calls("echo", [100] * 5, server_id="b"))

    [echo] = await store.tool_stats(StatsFilter(since_ms=0, until_ms=T0 * 2, server_id="a"))

    assert (echo.stats.calls, echo.stats.p99_ms) == (3, 3.0)


async def test_the_window_bounds_are_inclusive_and_exclude_the_rest(store: InvocationStore) -> None:
    await store.insert_many(
        calls("echo", [1], at=T0 - 1)
        + calls("echo", [2], at=T0)
        + calls("echo", [3], at=T0 + 10)
        + calls("echo", [4], at=T0 + 11)
    )

    [echo] = await store.tool_stats(StatsFilter(since_ms=T0, until_ms=T0 + 10))

    assert (echo.stats.calls, echo.stats.p50_ms, echo.stats.p99_ms) == (2, 2.0, 3.0)


async def test_the_summary_totals_every_tool(store: InvocationStore) -> None:
    await store.insert_many(calls("a", range(1, 51), failing=1) + calls("b", range(51, 101), failing=3))

    summary = await store.summary(ALL)

    assert summary.tools == 2
    assert (summary.stats.calls, summary.stats.errors) == (100, 4)
    assert (summary.stats.p50_ms, summary.stats.p95_ms, summary.stats.p99_ms) == (50.0, 95.0, 99.0)
    assert summary.stats.avg_ms == pytest.approx(50.5)


async def test_an_empty_window_has_no_tools_and_a_zero_summary(store: InvocationStore) -> None:
    await store.insert_many(calls("echo", [1, 2], at=T0))
    empty = StatsFilter(since_ms=0, until_ms=T0 - 1)

    assert await store.tool_stats(empty) == []
    summary = await store.summary(empty)
    assert (summary.tools, summary.stats.calls, summary.stats.errors) == (0, 0, 0)
    assert (summary.stats.p50_ms, summary.stats.avg_ms) == (None, None)


async def test_without_bounds_a_query_covers_the_last_day() -> None:
    seen: list[StatsFilter] = []

    class Source:
        async def tool_stats(self, query: StatsFilter):
            seen.append(query)
            return []

        async def summary(self, query: StatsFilter):
            raise AssertionError("not called")

    reader = StatsReader(Source(), EVERYTHING, clock=lambda: T0)
    window, _ = await reader.per_tool(ADMIN)
    assert window == seen[0] == StatsFilter(since_ms=T0 - DEFAULT_WINDOW_MS, until_ms=T0)

    window, _ = await reader.per_tool(ADMIN, server_id="s", until_ms=T0 - 5)
    assert window == StatsFilter(since_ms=T0 - 5 - DEFAULT_WINDOW_MS, until_ms=T0 - 5, server_id="s")


@pytest.mark.parametrize(("since", "until"), [(10, 5), (-1, 5), (0, -1)])
async def test_an_inverted_or_negative_window_is_invalid_input(
    store: InvocationStore, since: int, until: int
) -> None:
    with pytest.raises(InvalidInput):
        await StatsReader(store, EVERYTHING).per_tool(ADMIN, since_ms=since, until_ms=until)
