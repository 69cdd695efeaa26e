"""Invocation records: bulk insert, percentile queries and retention deletes, in SQL
that runs unchanged on SQLite and Postgres.

Percentiles use window functions: rows are ranked by duration within their group
(`row_number() over (partition by tool order by duration_ms)`) next to the group size
(`count(*) over (partition by tool)`), and each percentile picks, by conditional
aggregation, the duration at nearest rank ceil(p·n) = (p·n + 99) / 100 in integer
arithmetic (both databases divide integers exactly that way; SQLite may lack ceil()).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    case,
    delete,
    func,
    insert,
    literal_column,
    not_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from switchboard_core.db import create_engine
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.migrations import StartupPolicy, prepare

from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.domain.stats import PERCENTILES, LatencyStats, StatsFilter, Summary, ToolStats
from switchboard_metrics.store.tables import invocations
from switchboard_metrics.store.visible import visible_rows

DELETE_BATCH = 5000


class InvocationStore:
    """The `invocations` table of one database; `open()` before use, `close()` after."""

    def __init__(self, url: str, startup: StartupPolicy | None = None) -> None:
        self.url = url
        self.startup = startup or StartupPolicy()
        self._engine: AsyncEngine | None = None

    async def open(self) -> None:
        """Migrate (retrying with backoff while the database is unreachable) and connect."""
        # Imported here: the migrations package imports this package's tables.
        from switchboard_metrics.migrations import MIGRATIONS

        engine = create_engine(self.url, service="metrics")
        try:
            await prepare(self.url, MIGRATIONS, self.startup)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise DependencyUnavailable("the metrics database is not open")
        return self._engine

    async def insert_many(self, records: Sequence[Invocation]) -> None:
        """All records in one short transaction, as an executemany of one cached INSERT
        (SQLAlchemy batches it into multi-row VALUES itself: "insertmanyvalues").
        A literal `.values([...])` would be compiled anew for every batch."""
        if not records:
            return
        rows = [_row(record) for record in records]
        async with self.engine.begin() as conn:
            await conn.execute(insert(invocations), rows)

    async def tool_stats(self, query: StatsFilter) -> list[ToolStats]:
        ranked = _ranked(query, by_tool=True)
        statement = (
            select(ranked.c.tool, *_latency_columns(ranked)).group_by(ranked.c.tool).order_by(ranked.c.tool)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [ToolStats(tool=row["tool"], stats=_latency(row)) for row in rows]

    async def summary(self, query: StatsFilter) -> Summary:
        ranked = _ranked(query, by_tool=False)
        statement = select(func.count(ranked.c.tool.distinct()).label("tools"), *_latency_columns(ranked))
        async with self.engine.connect() as conn:
            row = (await conn.execute(statement)).mappings().one()
        return Summary(tools=row["tools"], stats=_latency(row))

    async def delete_started_before(self, cutoff_ms: int, *, batch: int = DELETE_BATCH) -> int:
        """Delete records that started before `cutoff_ms`, `batch` rows per transaction."""
        deleted = 0
        while True:
            doomed = select(invocations.c.id).where(invocations.c.started_at < cutoff_ms).limit(batch)
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    delete(invocations).where(invocations.c.id.in_(doomed.scalar_subquery()))
                )
            deleted += result.rowcount
            if result.rowcount < batch:
                return deleted


def _row(record: Invocation) -> dict:
    return {
        "tool": record.tool,
        "server_id": record.server_id,
        "gateway_id": record.gateway_id,
        "caller": record.caller,
        "duration_ms": record.duration_ms,
        "success": record.success,
        "started_at": record.started_at_ms,
        "error": record.error,
        "trace_id": record.trace_id,
    }


def _ranked(query: StatsFilter, *, by_tool: bool):
    t = invocations
    partition = [t.c.tool] if by_tool else None
    statement: Select = select(
        t.c.tool,
        t.c.duration_ms,
        t.c.success,
        func.row_number().over(partition_by=partition, order_by=t.c.duration_ms).label("ordinal"),
        func.count().over(partition_by=partition).label("n"),
    ).where(
        t.c.started_at >= query.since_ms, t.c.started_at <= query.until_ms, visible_rows(t, query.visible)
    )
    if query.server_id:
        statement = statement.where(t.c.server_id == query.server_id)
    return statement.subquery("ranked")


def _latency_columns(ranked) -> list[ColumnElement]:
    return [
        func.count().label("calls"),
        func.coalesce(func.sum(case((not_(ranked.c.success), 1), else_=0)), 0).label("errors"),
        *(_percentile(ranked, p) for p in PERCENTILES),
        func.avg(ranked.c.duration_ms).label("avg_ms"),
    ]


def _percentile(ranked, percent: int) -> ColumnElement:
    # Constants inlined (they are ours, never input) so both databases see integer arithmetic.
    target = (ranked.c.n * _int(percent) + _int(99)) // _int(100)
    return func.max(case((ranked.c.ordinal == target, ranked.c.duration_ms))).label(f"p{percent}_ms")


def _int(value: int) -> ColumnElement:
    return literal_column(str(value), Integer())


def _latency(row) -> LatencyStats:
    return LatencyStats(
        calls=int(row["calls"]),
        errors=int(row["errors"]),
        p50_ms=_float(row["p50_ms"]),
        p95_ms=_float(row["p95_ms"]),
        p99_ms=_float(row["p99_ms"]),
        avg_ms=_float(row["avg_ms"]),
    )


def _float(value) -> float | None:
    return None if value is None else float(value)
