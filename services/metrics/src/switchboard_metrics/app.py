"""HTTP face of the metrics service: latency and error statistics, and hourly rollups,
for signed-in users, of what each may see (`domain.visibility`)."""

from __future__ import annotations

from fastapi import APIRouter
from switchboard_core.http.deps import CurrentPrincipal
from switchboard_core.http.params import Filter, Limit, Offset, TimestampMs

from switchboard_metrics.domain.histogram import BOUNDS_MS
from switchboard_metrics.domain.rollups import Rollup, RollupFilter, RollupReader
from switchboard_metrics.domain.stats import PERCENTILES, LatencyStats, StatsFilter, StatsReader

_ERRORS = {
    400: {"description": "`since` is after `until`"},
    404: {"description": "`server_id` names no server the caller may see"},
}


def build_router(reader: StatsReader, rollups: RollupReader) -> APIRouter:
    router = APIRouter(prefix="/metrics", tags=["metrics"], responses=_ERRORS)

    @router.get("/tools")
    async def tool_metrics(
        principal: CurrentPrincipal,
        server_id: Filter = None,
        since: TimestampMs = None,
        until: TimestampMs = None,
    ) -> dict:
        """Calls, errors and p50/p95/p99/average latency per tool; since/until are unix ms."""
        window, tools = await reader.per_tool(principal, server_id=server_id, since_ms=since, until_ms=until)
        return {"tools": [{"tool": t.tool, **_latency(t.stats)} for t in tools], **_window(window)}

    @router.get("/summary")
    async def summary_metrics(
        principal: CurrentPrincipal,
        server_id: Filter = None,
        since: TimestampMs = None,
        until: TimestampMs = None,
    ) -> dict:
        """Totals across every tool in the window."""
        window, summary = await reader.summary(principal, server_id=server_id, since_ms=since, until_ms=until)
        return {"tools": summary.tools, **_latency(summary.stats), **_window(window)}

    @router.get("/rollups")
    async def rollup_metrics(
        principal: CurrentPrincipal,
        tool: Filter = None,
        server_id: Filter = None,
        since: TimestampMs = None,
        until: TimestampMs = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict:
        """Hourly rollups (hour × tool × server × gateway) whose hour starts in [since, until],
        unix ms, oldest first; percentiles are estimated from each hour's histogram, whose
        bucket i counts durations up to `bucket_bounds_ms[i]` (the last one: above them all)."""
        window, page = await rollups.page(
            principal,
            tool=tool,
            server_id=server_id,
            since_ms=since,
            until_ms=until,
            limit=limit,
            offset=offset,
        )
        return {
            "items": [_rollup(r) for r in page.items],
            "total": page.total,
            "limit": limit,
            "offset": offset,
            "bucket_bounds_ms": list(BOUNDS_MS),
            **_rollup_window(window),
        }

    return router


def _rollup(rollup: Rollup) -> dict:
    return {
        "hour": rollup.hour_ms,
        "tool": rollup.tool,
        "server_id": rollup.server_id,
        "gateway_id": rollup.gateway_id,
        "calls": rollup.calls,
        "errors": rollup.errors,
        **{f"p{p}_ms": rollup.percentile(p) for p in PERCENTILES},
        "avg_ms": rollup.avg_ms,
        "min_ms": rollup.min_ms,
        "max_ms": rollup.max_ms,
        "histogram": list(rollup.histogram),
    }


def _rollup_window(window: RollupFilter) -> dict:
    return {
        "since": window.since_ms,
        "until": window.until_ms,
        "tool": window.tool or None,
        "server_id": window.server_id or None,
    }


def _latency(stats: LatencyStats) -> dict:
    return {
        "calls": stats.calls,
        "errors": stats.errors,
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "p99_ms": stats.p99_ms,
        "avg_ms": stats.avg_ms,
    }


def _window(window: StatsFilter) -> dict:
    return {"since": window.since_ms, "until": window.until_ms, "server_id": window.server_id or None}
