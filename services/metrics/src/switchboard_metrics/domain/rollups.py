"""Hourly rollups: per hour × tool × server × gateway, the calls, errors, duration sum,
min and max, and a latency histogram (`domain.histogram`), kept longer than records.

One replica rolls up for all, while it holds the lease `rollups`. A pass rolls up every
closed hour from where the last one got to (the mark, kept in the database) up to the
start of the current hour, a day of hours per transaction, and rolls the last
`LATE_HOURS` closed hours again on the way: records that arrive late (a proxy's
buffer, a clock behind) still count if they come within that. Each hour is recomputed
from the records and upserted, so a pass may run twice, or on two replicas at once
(a lease lost in a Redis outage), and leave the same rows. Hours whose records
retention may already have begun deleting are never rolled up again: recomputing one
would count fewer calls than its rollup holds. Rollups older than their own retention
are deleted by the same pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from switchboard_core.errors import InvalidInput
from switchboard_core.principals import Principal
from switchboard_core.shared.leader import Leadership

from switchboard_metrics.domain.histogram import estimate_percentile
from switchboard_metrics.domain.invocations import MAX_TOOL, now_ms
from switchboard_metrics.domain.periodic import LeaderPeriodic
from switchboard_metrics.domain.retention import DAY_MS
from switchboard_metrics.domain.stats import check_server_id, query_window
from switchboard_metrics.domain.visibility import Visibility, Visible

logger = logging.getLogger(__name__)

HOUR_MS = 3600 * 1000
LEASE = "rollups"
ROLLUP_INTERVAL_S = 300.0
LATE_HOURS = 2
HOURS_PER_TRANSACTION = 24
# Without `since`, a query of rollups looks this far back from `until`.
DEFAULT_WINDOW_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class Rollup:
    hour_ms: int
    tool: str
    server_id: str
    gateway_id: str
    calls: int
    errors: int
    sum_ms: float
    min_ms: float
    max_ms: float
    # Counts per bucket of `histogram.BOUNDS_MS`.
    histogram: tuple[int, ...]

    @property
    def avg_ms(self) -> float:
        return self.sum_ms / self.calls

    def percentile(self, percent: int) -> float | None:
        """Estimated from the histogram (see `domain.histogram` for how close)."""
        return estimate_percentile(self.histogram, percent, min_ms=self.min_ms, max_ms=self.max_ms)


@dataclass(frozen=True, slots=True)
class RollupFilter:
    # Inclusive bounds on the hour's start, unix milliseconds.
    since_ms: int
    until_ms: int
    # Empty means every tool, every server.
    tool: str = ""
    server_id: str = ""
    # The rows the caller may see (None: every row).
    visible: Visible = None


@dataclass(frozen=True, slots=True)
class RollupPage:
    items: list[Rollup]
    total: int


class RollupStore(Protocol):
    async def rolled_until(self) -> int | None: ...

    async def first_record_at(self, since_ms: int) -> int | None: ...

    async def roll_up(self, since_ms: int, until_ms: int) -> None: ...

    async def delete_rollups_before(self, cutoff_ms: int) -> int: ...

    async def rollups(self, query: RollupFilter, *, limit: int, offset: int) -> RollupPage: ...


def hour_of(ms: int) -> int:
    """The start of the hour holding `ms`."""
    return ms - ms % HOUR_MS


class HourlyRollups:
    def __init__(
        self,
        store: RollupStore,
        *,
        records_retention_days: int,
        rollup_retention_days: int,
        interval_s: float = ROLLUP_INTERVAL_S,
        late_hours: int = LATE_HOURS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._records_retention_ms = records_retention_days * DAY_MS
        self._rollup_retention_ms = rollup_retention_days * DAY_MS
        self._late_ms = late_hours * HOUR_MS
        self._clock = clock
        self._job = LeaderPeriodic(
            LEASE, self.roll_up_once, interval_s=interval_s, counter="metrics.rollup_passes"
        )

    async def roll_up_once(self) -> int:
        """Roll up every closed hour not yet rolled up (and the late ones); returns how many hours."""
        now = self._clock()
        closed_until = hour_of(now)
        # The first hour all of whose records retention still keeps.
        kept_from = hour_of(now - self._records_retention_ms) + HOUR_MS
        start = max(await self._resume_at(closed_until, kept_from), kept_from)
        hours = 0
        # (A catch-up of many days ends early, between transactions, when the job stops.)
        while start < closed_until and not self._job.winding_down:
            end = min(start + HOURS_PER_TRANSACTION * HOUR_MS, closed_until)
            await self._store.roll_up(start, end)
            hours += (end - start) // HOUR_MS
            start = end
        deleted = await self._store.delete_rollups_before(now - self._rollup_retention_ms)
        if deleted:
            logger.info("rollup retention deleted %d hourly rollups", deleted)
        return hours

    async def _resume_at(self, closed_until: int, kept_from: int) -> int:
        mark = await self._store.rolled_until()
        if mark is not None:
            return mark - self._late_ms
        first = await self._store.first_record_at(kept_from)
        # Nothing recorded yet: begin with the last closed hour, which sets the mark.
        return hour_of(first) if first is not None else closed_until - HOUR_MS

    @property
    def passes(self) -> int:
        """Passes begun by this replica."""
        return self._job.passes

    def start(self, leadership: Leadership | None = None) -> None:
        """Roll up in the background whenever this replica leads (None: the only replica)."""
        self._job.start(leadership)

    async def stop(self) -> None:
        await self._job.stop()


def rollup_filter(
    *,
    tool: str | None,
    server_id: str | None,
    since_ms: int | None,
    until_ms: int | None,
    now: int,
) -> RollupFilter:
    """The hours a query covers: `until` defaults to now, `since` to a week before `until`."""
    since, until = query_window(since_ms, until_ms, now=now, default_ms=DEFAULT_WINDOW_MS)
    if tool is not None and len(tool) > MAX_TOOL:
        raise InvalidInput(f"tool is longer than {MAX_TOOL} characters")
    check_server_id(server_id)
    return RollupFilter(since_ms=since, until_ms=until, tool=tool or "", server_id=server_id or "")


class RollupReader:
    """Rollups of the records `caller` may see (`domain.visibility`)."""

    def __init__(
        self, store: RollupStore, visibility: Visibility, *, clock: Callable[[], int] = now_ms
    ) -> None:
        self._store = store
        self._visibility = visibility
        self._clock = clock

    async def page(
        self,
        caller: Principal,
        *,
        tool: str | None = None,
        server_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int,
        offset: int,
    ) -> tuple[RollupFilter, RollupPage]:
        query = rollup_filter(
            tool=tool, server_id=server_id, since_ms=since_ms, until_ms=until_ms, now=self._clock()
        )
        query = replace(query, visible=await self._visibility.visible(caller, query.server_id))
        return query, await self._store.rollups(query, limit=limit, offset=offset)
