"""Spans for the hops the gateway makes and the admin requests it serves.

Each module here is installed only when `telemetry.tracing_active()` says an SDK records
spans, checked once where the client or app is built (`db.create_engine`,
`redis_client.make_client`, `grpc.interceptors.client_interceptors`, `http.app.create_app`),
so an untraced process runs none of this code, not even a branch per call.

- `sql_spans`: one CLIENT span per SQL statement (text without parameter values).
- `redis_spans`: one CLIENT span per Redis command or pipeline (command names only).
- `grpc_client_spans`: one CLIENT span per outgoing gRPC call.
- `http_spans`: one SERVER span per REST request, named by its route template.

Upstream HTTP requests get theirs in `switchboard_mcp.upstream.http_spans` (the layer
that owns the aiohttp client). docs/observability.md ("Traces") lists every span.

Client spans are made only inside a trace (a recording span is current): work a
background loop does on its own (readiness probes, feeds, flushes) starts no trace of
its own every few seconds.
"""

from switchboard_core.tracing.inside import inside_a_trace

__all__ = ["inside_a_trace"]
