"""Every metric a Switchboard process exports, with its labels.

Names follow Prometheus conventions: the `switchboard_` prefix, base units (`_seconds`,
`_bytes`), `_total` on counters (prometheus-client adds it to a `Counter`'s name). Label
values are bounded: route *templates* (never raw paths), gRPC method names, status codes,
and server and tool names only through `bounded.BoundedLabels` (a cap, overflow folded
into `_other`). docs/observability.md lists each metric with what it means; a test holds
the two in step.

Counters that already exist as plain `counters.COUNTERS` increments (cache hits and
misses, SQL statements, Redis commands) are exported from those at scrape time by a
collector (`exposition`), so the hot path pays nothing more for them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from switchboard_core.prometheus.loop_histogram import LoopHistogram

# Latency buckets, in seconds, from a cached call (a millisecond) to a tool that works
# for a minute.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --- HTTP (every process's HTTP face) -------------------------------------------------

# Observed on the event loop by every request: the lock-free histogram (`loop_histogram`).
HTTP_REQUEST_DURATION = LoopHistogram(
    "switchboard_http_request_duration_seconds",
    "HTTP requests served, by route template, method and status code: time from the "
    "request's arrival to the end of its answer (a stream: to its close).",
    ("route", "method", "code"),
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS_IN_FLIGHT = Gauge(
    "switchboard_http_requests_in_flight",
    "HTTP requests this process is serving now (open streams included).",
)

# --- gRPC (internal calls between services) -------------------------------------------

GRPC_SERVER_DURATION = Histogram(
    "switchboard_grpc_server_handling_seconds",
    "gRPC calls this process served, by service, method and status code.",
    ("grpc_service", "grpc_method", "grpc_code"),
    buckets=LATENCY_BUCKETS,
)
GRPC_CLIENT_DURATION = Histogram(
    "switchboard_grpc_client_handling_seconds",
    "gRPC calls this process made to other services, by service, method and status code.",
    ("grpc_service", "grpc_method", "grpc_code"),
    buckets=LATENCY_BUCKETS,
)

# --- MCP calls through the proxy ------------------------------------------------------

# Observed on the event loop by every forwarded call (mcp-proxy `call_metrics`).
MCP_CALL_DURATION = LoopHistogram(
    "switchboard_mcp_call_duration_seconds",
    "tools/call, resources/read and prompts/get forwarded to upstreams, by virtual server, "
    "name (tool, resource or prompt as the client names it; capped, overflow `_other`) "
    "and outcome (ok, tool_error, error, timeout, unavailable).",
    ("method", "server", "name", "outcome"),
    buckets=LATENCY_BUCKETS,
)
MCP_SESSIONS_OPEN = Gauge(
    "switchboard_mcp_sessions_open",
    "MCP sessions (2025-era Streamable HTTP and legacy SSE) this replica opened that are still open.",
)
MCP_STREAMS_OPEN = Gauge(
    "switchboard_mcp_streams_open",
    "Server-to-client streams this replica holds open, by kind (get, post, legacy_sse, listen).",
    ("kind",),
)

# --- Upstreams ------------------------------------------------------------------------

UPSTREAM_ERRORS = Counter(
    "switchboard_upstream_errors",
    "Requests to upstream MCP servers that failed, by upstream (gateway id) and kind "
    "(timeout, connect, http, protocol).",
    ("upstream", "kind"),
)
UPSTREAM_UP = Gauge(
    "switchboard_upstream_up",
    "Whether the registry's last health check reached the upstream (1) or not (0), by "
    "upstream (gateway id) and its name.",
    ("upstream", "upstream_name"),
)

# --- The metrics buffer (proxy → metrics service) -------------------------------------

METRICS_BUFFER_DROPPED = Counter(
    "switchboard_metrics_buffer_dropped_records",
    "Invocation records the proxy dropped: its buffer was full, or the metrics service "
    "refused a batch it will never take.",
)
METRICS_BUFFER_PENDING = Gauge(
    "switchboard_metrics_buffer_pending_records",
    "Invocation records waiting in the proxy's buffer for the metrics service (read at "
    "scrape time); near the buffer's capacity, drops follow.",
)

# --- Database, Redis, leases, rate limits, readiness ----------------------------------

DB_POOL_CONNECTIONS = Gauge(
    "switchboard_db_pool_connections",
    "Database connections of a service's pool, by service and state (in_use, idle).",
    ("service", "state"),
)
DB_POOL_WAITS = Counter(
    "switchboard_db_pool_waits",
    "Times a service waited for a database connection because its pool had none free.",
    ("service",),
)
DB_POOL_WAIT_DURATION = Histogram(
    "switchboard_db_pool_wait_seconds",
    "How long a service waited for a database connection from its pool.",
    ("service",),
    buckets=LATENCY_BUCKETS,
)
REDIS_ERRORS = Counter(
    "switchboard_redis_errors",
    "Redis commands that failed (connection lost, timeout, server error), by kind.",
    ("kind",),
)
LEADER_HELD = Gauge(
    "switchboard_leader_held",
    "Whether this replica holds the lease of a singleton job (1) or not (0), by service "
    "and lease (`job` is Prometheus's own label, so the lease is `lease`).",
    ("service", "lease"),
)
RATE_LIMIT_REFUSALS = Counter(
    "switchboard_rate_limit_refusals",
    "Requests refused 429 by a rate limit, by limit (user, team, token, login, …).",
    ("limit",),
)
READY = Gauge(
    "switchboard_ready",
    "Whether this process answers its readiness probe with 200 (1) or 503 (0).",
)
DEPENDENCY_UP = Gauge(
    "switchboard_dependency_up",
    "Whether the readiness checker's last probe reached a dependency (1) or not (0).",
    ("dependency",),
)
