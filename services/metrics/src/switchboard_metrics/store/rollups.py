"""The hourly rollups in SQL: each pass is one INSERT … SELECT … GROUP BY over the
records, upserted (ON CONFLICT DO UPDATE) so that an hour rolled up again replaces its
rows, and the mark moved on in the same transaction. Runs unchanged on SQLite and
Postgres, with the dialect's own INSERT for the upsert.

The hour and the histogram buckets are computed with their constants inlined (ours,
never input): Postgres groups by an expression only when the select names the very
same one, which two bound parameters of equal value are not.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Float, Integer, and_, case, delete, func, literal_column, not_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_metrics.domain.histogram import BOUNDS_MS
from switchboard_metrics.domain.rollups import HOUR_MS, Rollup, RollupFilter, RollupPage
from switchboard_metrics.store.invocations import InvocationStore
from switchboard_metrics.store.tables import BUCKET_COLUMNS, invocation_rollups, invocations, rollup_progress
from switchboard_metrics.store.visible import visible_rows

JOB = "hourly"
_KEY = ("hour_start", "tool", "server_id", "gateway_id")


class RollupStore:
    """The `invocation_rollups` and `rollup_progress` tables, in the database of `records`."""

    def __init__(self, records: InvocationStore) -> None:
        self._records = records

    @property
    def _engine(self) -> AsyncEngine:
        return self._records.engine

    async def rolled_until(self) -> int | None:
        statement = select(rollup_progress.c.rolled_until).where(rollup_progress.c.job == JOB)
        async with self._engine.connect() as conn:
            return (await conn.execute(statement)).scalar_one_or_none()

    async def first_record_at(self, since_ms: int) -> int | None:
        statement = select(func.min(invocations.c.started_at)).where(invocations.c.started_at >= since_ms)
        async with self._engine.connect() as conn:
            return (await conn.execute(statement)).scalar_one()

    async def roll_up(self, since_ms: int, until_ms: int) -> None:
        """Recompute the hours in [since_ms, until_ms) (whole hours) and move the mark to
        `until_ms` unless it is already past it."""
        async with self._engine.begin() as conn:
            dialect = _dialect(conn.dialect.name)
            await conn.execute(_upsert_hours(dialect, since_ms, until_ms))
            await conn.execute(_advance_mark(dialect, until_ms))

    async def delete_rollups_before(self, cutoff_ms: int, *, hours_per_batch: int = 24) -> int:
        """Delete the rollups of hours that began before `cutoff_ms`, at most
        `hours_per_batch` hours of them per transaction."""
        r = invocation_rollups
        oldest_hour = select(func.min(r.c.hour_start)).where(r.c.hour_start < cutoff_ms)
        deleted = 0
        while True:
            async with self._engine.begin() as conn:
                oldest = (await conn.execute(oldest_hour)).scalar_one()
                if oldest is None:
                    return deleted
                below = min(oldest + hours_per_batch * HOUR_MS, cutoff_ms)
                deleted += (await conn.execute(delete(r).where(r.c.hour_start < below))).rowcount

    async def rollups(self, query: RollupFilter, *, limit: int, offset: int) -> RollupPage:
        r = invocation_rollups
        conditions = [
            r.c.hour_start >= query.since_ms,
            r.c.hour_start <= query.until_ms,
            visible_rows(r, query.visible),
        ]
        if query.tool:
            conditions.append(r.c.tool == query.tool)
        if query.server_id:
            conditions.append(r.c.server_id == query.server_id)
        where = and_(*conditions)
        rows_statement = select(r).where(where).order_by(*(r.c[k] for k in _KEY)).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(r).where(where))).scalar_one()
            rows = (await conn.execute(rows_statement)).mappings().all()
        return RollupPage(items=[_rollup(row) for row in rows], total=total)


def _dialect(name: str):
    return postgresql if name == "postgresql" else sqlite


def _upsert_hours(dialect, since_ms: int, until_ms: int):
    t = invocations
    duration = t.c.duration_ms
    hour = (t.c.started_at // _int(HOUR_MS)) * _int(HOUR_MS)
    aggregated = (
        select(
            hour.label("hour_start"),
            t.c.tool,
            t.c.server_id,
            t.c.gateway_id,
            func.count().label("calls"),
            func.sum(case((not_(t.c.success), _int(1)), else_=_int(0))).label("errors"),
            func.sum(duration).label("duration_sum_ms"),
            func.min(duration).label("duration_min_ms"),
            func.max(duration).label("duration_max_ms"),
            *(
                func.sum(case((_in_bucket(duration, index), _int(1)), else_=_int(0))).label(name)
                for index, name in enumerate(BUCKET_COLUMNS)
            ),
        )
        # (A WHERE clause is also what SQLite needs to parse INSERT … SELECT … ON CONFLICT.)
        .where(t.c.started_at >= since_ms, t.c.started_at < until_ms)
        .group_by(hour, t.c.tool, t.c.server_id, t.c.gateway_id)
    )
    columns = [c.name for c in invocation_rollups.columns]
    insert = dialect.insert(invocation_rollups).from_select(columns, aggregated)
    return insert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: insert.excluded[name] for name in columns if name not in _KEY},
    )


def _in_bucket(duration: ColumnElement, index: int) -> ColumnElement:
    if index == 0:
        return duration <= _float(BOUNDS_MS[0])
    if index == len(BOUNDS_MS):
        return duration > _float(BOUNDS_MS[-1])
    return and_(duration > _float(BOUNDS_MS[index - 1]), duration <= _float(BOUNDS_MS[index]))


def _advance_mark(dialect, until_ms: int):
    insert = dialect.insert(rollup_progress).values(job=JOB, rolled_until=until_ms)
    current = rollup_progress.c.rolled_until
    return insert.on_conflict_do_update(
        index_elements=["job"],
        set_={
            "rolled_until": case(
                (insert.excluded.rolled_until > current, insert.excluded.rolled_until), else_=current
            )
        },
    )


def _int(value: int) -> ColumnElement:
    return literal_column(str(value), Integer())


def _float(value: float) -> ColumnElement:
    return literal_column(repr(value), Float())


def _rollup(row) -> Rollup:
    return Rollup(
        hour_ms=int(row["hour_start"]),
        tool=row["tool"],
        server_id=row["server_id"],
        gateway_id=row["gateway_id"],
        calls=int(row["calls"]),
        errors=int(row["errors"]),
        sum_ms=float(row["duration_sum_ms"]),
        min_ms=float(row["duration_min_ms"]),
        max_ms=float(row["duration_max_ms"]),
        histogram=tuple(int(row[name]) for name in BUCKET_COLUMNS),
    )
