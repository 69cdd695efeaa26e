"""Latency and error statistics over a time window, per tool and in total.

The numbers are computed by the store in SQL; this module decides the window and
checks the question. A percentile p of n durations is the value at rank ceil(p·n)
in ascending order (nearest-rank), so durations 1..100 give p50=50, p95=95, p99=99.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from switchboard_core.errors import InvalidInput
from switchboard_core.principals import Principal

from switchboard_metrics.domain.invocations import MAX_ID, now_ms
from switchboard_metrics.domain.visibility import Visibility, Visible

# Without `since`, a query looks this far back from `until`: the default read stays cheap.
DEFAULT_WINDOW_MS = 24 * 3600 * 1000
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class StatsFilter:
    # Inclusive bounds on started_at, unix milliseconds.
    since_ms: int
    until_ms: int
    # Empty means every server.
    server_id: str = ""
    # The rows the caller may see (None: every row).
    visible: Visible = None


@dataclass(frozen=True, slots=True)
class LatencyStats:
    calls: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    avg_ms: float | None


@dataclass(frozen=True, slots=True)
class ToolStats:
    tool: str
    stats: LatencyStats


@dataclass(frozen=True, slots=True)
class Summary:
    # Distinct tools called in the window.
    tools: int
    stats: LatencyStats


class StatsSource(Protocol):
    async def tool_stats(self, query: StatsFilter) -> list[ToolStats]: ...

    async def summary(self, query: StatsFilter) -> Summary: ...


def stats_filter(
    *, server_id: str | None, since_ms: int | None, until_ms: int | None, now: int
) -> StatsFilter:
    """The window a query covers: `until` defaults to now, `since` to a day before `until`."""
    since, until = query_window(since_ms, until_ms, now=now, default_ms=DEFAULT_WINDOW_MS)
    check_server_id(server_id)
    return StatsFilter(since_ms=since, until_ms=until, server_id=server_id or "")


def query_window(since_ms: int | None, until_ms: int | None, *, now: int, default_ms: int) -> tuple[int, int]:
    """`(since, until)` of a metrics query: `until` defaults to now, `since` to `default_ms` before it."""
    until = now if until_ms is None else until_ms
    since = until - default_ms if since_ms is None else since_ms
    if since < 0 or until < 0:
        raise InvalidInput("since and until are unix milliseconds and cannot be negative")
    if since > until:
        raise InvalidInput("since must not be after until")
    return since, until


def check_server_id(server_id: str | None) -> None:
    if server_id is not None and len(server_id) > MAX_ID:
        raise InvalidInput(f"server_id is longer than {MAX_ID} characters")


class StatsReader:
    """Statistics over the records `caller` may see (`domain.visibility`)."""

    def __init__(
        self, source: StatsSource, visibility: Visibility, *, clock: Callable[[], int] = now_ms
    ) -> None:
        self._source = source
        self._visibility = visibility
        self._clock = clock

    async def per_tool(
        self,
        caller: Principal,
        *,
        server_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> tuple[StatsFilter, list[ToolStats]]:
        query = await self._query(caller, server_id, since_ms, until_ms)
        return query, await self._source.tool_stats(query)

    async def summary(
        self,
        caller: Principal,
        *,
        server_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> tuple[StatsFilter, Summary]:
        query = await self._query(caller, server_id, since_ms, until_ms)
        return query, await self._source.summary(query)

    async def _query(
        self, caller: Principal, server_id: str | None, since_ms: int | None, until_ms: int | None
    ) -> StatsFilter:
        query = stats_filter(server_id=server_id, since_ms=since_ms, until_ms=until_ms, now=self._clock())
        return replace(query, visible=await self._visibility.visible(caller, query.server_id))
