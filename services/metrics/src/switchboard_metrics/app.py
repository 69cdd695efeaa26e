"""HTTP face of the metrics service: latency and error statistics for signed-in users."""

from __future__ import annotations

from fastapi import APIRouter
from switchboard_core.http.deps import CurrentPrincipal

from switchboard_metrics.domain.stats import LatencyStats, StatsFilter, StatsReader


def build_router(reader: StatsReader) -> APIRouter:
    router = APIRouter(prefix="/metrics", tags=["metrics"])

    @router.get("/tools")
    async def tool_metrics(
        _principal: CurrentPrincipal,
        server_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> dict:
        """Calls, errors and p50/p95/p99/average latency per tool; since/until are unix ms."""
        window, tools = await reader.per_tool(server_id=server_id, since_ms=since, until_ms=until)
        return {"tools": [{"tool": t.tool, **_latency(t.stats)} for t in tools], **_window(window)}

    @router.get("/summary")
    async def summary_metrics(
        _principal: CurrentPrincipal,
        server_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> dict:
        """Totals across every tool in the window."""
        window, summary = await reader.summary(server_id=server_id, since_ms=since, until_ms=until)
        return {"tools": summary.tools, **_latency(summary.stats), **_window(window)}

    return router


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
